"""What the engine-based backends (Docker, Swarm) share: one of each, so they cannot drift.

- `api`: the typed slice of the Docker engine's API both use (`EngineAPI`);
- `errors`: the one translation of the SDK's errors into `SchedulerError`;
- `attach`: the attach session of a one-off container (`EngineAttachment`);
- `logs`: merging the history of several sources and following them;
- `times`: the engine's RFC 3339 timestamps;
- `events`: the engine's event stream of Empire's containers (`EngineEvents`).

The labels they put on containers and services belong to the contract
(`empire.scheduler.labels`).
"""
