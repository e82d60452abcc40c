"""The Docker backend: one host, one bridge network, containers labelled by app and process.

`DockerScheduler(client, router)` implements the scheduler contract (`empire.scheduler`):
start-first rolling changes with health checks on loopback-published ports, discovery by
network alias (`http://<app>/`), one-off and cron runs, merged logs, and orphan cleanup.
"""

from empire.scheduler.docker.scheduler import KEEP_CRON_RUNS, DockerScheduler

__all__ = ["KEEP_CRON_RUNS", "DockerScheduler"]
