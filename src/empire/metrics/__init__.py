"""Empire's metrics: the Prometheus registry (`registry`), the per-app figures (`window`,
`view`), what reads the engine (`readers`, `swarm`, `ecs`) and the measured scheduler
(`scheduler`).

This package's `__init__` imports nothing: the facade reads `view` without loading
prometheus_client, which loads only when metrics are on.
"""
