"""What runs on a Docker Swarm: per app and process type, from the services and their tasks.

One `services` call (Empire's services, by label) and one `tasks` call per round. Running:
tasks running that should run; desired: the service's replicas; restarts: tasks that ended
`failed` or `rejected` (Swarm then starts another in the slot), each counted once as it is
first seen in the task history. CPU and memory are per node (`docker stats` on each node), so
they are not read here: see the README.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Protocol

from empire.metrics.window import ProcessReading
from empire.scheduler import labels

ENDED_BADLY = ("failed", "rejected")


class SwarmEngine(Protocol):
    def services(self, filters: Mapping[str, Any] | None = None) -> Any: ...

    def tasks(self, filters: Mapping[str, Any] | None = None) -> Any: ...


class SwarmReader:
    def __init__(self, api: SwarmEngine) -> None:
        self.api = api
        self._failed: set[str] = set()  # failed task ids already counted
        self._restarts: dict[tuple[str, str], int] = defaultdict(int)

    def read(self, apps: Mapping[str, str]) -> list[ProcessReading]:
        services = self.api.services(filters={"label": [f"{labels.KIND}={labels.SERVICE}"]})
        owners: dict[str, tuple[str, str]] = {}
        desired: dict[tuple[str, str], int] = defaultdict(int)
        for service in services or ():
            spec = service.get("Spec") or {}
            tags = spec.get("Labels") or {}
            app_id, process = tags.get(labels.APP_ID), tags.get(labels.PROCESS)
            if not app_id or not process or app_id not in apps:
                continue
            owners[str(service.get("ID"))] = (app_id, process)
            replicas = ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas")
            desired[(app_id, process)] += int(replicas or 0)
        running: dict[tuple[str, str], int] = defaultdict(int)
        listed: set[str] = set()
        for task in self.api.tasks() or ():
            key = owners.get(str(task.get("ServiceID")))
            if key is None:
                continue
            ident = str(task.get("ID"))
            listed.add(ident)
            state = str((task.get("Status") or {}).get("State", ""))
            if state == "running" and task.get("DesiredState") == "running":
                running[key] += 1
            elif state in ENDED_BADLY and ident not in self._failed:
                self._failed.add(ident)
                self._restarts[key] += 1
        self._failed &= listed  # out of the history: never listed again
        for key in [k for k in self._restarts if k[0] not in apps]:
            del self._restarts[key]
        return [
            ProcessReading(
                app_id,
                apps[app_id],
                process,
                running.get((app_id, process), 0),
                desired=count,
                restarts=self._restarts.get((app_id, process), 0),
            )
            for (app_id, process), count in desired.items()
        ]
