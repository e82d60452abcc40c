"""What runs, read from the engine: one `Reader` per backend, called by the collector's thread.

A reader returns one `ProcessReading` per app and process type: instances running, and what
the engine knows of their CPU time, memory and restarts (cumulative, kept monotonic by the
reader: a replaced container's CPU time is not lost). Readers are only ever called from the
collector's one thread, at its bounded rate; a scrape never reaches them.

- `DockerReader`: the containers Empire labels as services, `inspect` (restarts) and
  non-streaming, one-shot `stats` (CPU, memory) per running container, at most
  `max_instances` per round.
- `TasksReader`: any scheduler's `tasks(app_id)` for the apps known (the fake backend, and a
  fallback): counts only.
- Swarm and ECS: `empire.metrics.swarm`, `empire.metrics.ecs`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from empire.metrics.window import ProcessReading
from empire.scheduler import Scheduler, labels

log = logging.getLogger("empire.metrics")
MAX_INSTANCES = 500


class Reader(Protocol):
    def read(self, apps: Mapping[str, str]) -> list[ProcessReading]:
        """Read what runs; `apps` are the apps Empire runs (id -> name)."""
        ...


class TasksReader:
    """Counts from the scheduler's own task list (one call per app)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def read(self, apps: Mapping[str, str]) -> list[ProcessReading]:
        readings = []
        for app_id, name in apps.items():
            running: dict[str, int] = defaultdict(int)
            for task in self.scheduler.tasks(app_id):
                if task.state.lower() in ("up", "running") and ".run." not in f".{task.name}":
                    running[task.process] += 1
            readings += [ProcessReading(app_id, name, p, n) for p, n in running.items()]
        return readings


class ContainerEngine(Protocol):
    """The slice of docker-py's low-level client the Docker reader uses."""

    def containers(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> Any: ...

    def inspect_container(self, container: str) -> Any: ...

    def stats(
        self, container: str, decode: bool | None = None, stream: bool = True, one_shot: Any = None
    ) -> Any: ...


class DockerReader:
    """Per app and process type on the local engine: running containers, CPU seconds (from
    the cgroup's usage), memory (usage less the inactive page cache, as `docker stats` shows)
    and restarts (the engine's restart count of each container)."""

    def __init__(
        self,
        api: ContainerEngine,
        *,
        max_instances: int = MAX_INSTANCES,
        stats: Callable[[str], Any] | None = None,
    ) -> None:
        self.api = api
        self.max_instances = max_instances
        self._stats = stats or (lambda ident: api.stats(ident, stream=False, one_shot=True))
        self._cpu: dict[str, float] = {}  # container id -> CPU seconds at the last round
        self._restarts: dict[str, int] = {}  # container id -> restart count at the last round
        self._cpu_total: dict[tuple[str, str], float] = defaultdict(float)
        self._restart_total: dict[tuple[str, str], int] = defaultdict(int)

    def read(self, apps: Mapping[str, str]) -> list[ProcessReading]:
        entries = self.api.containers(
            all=True, filters={"label": [f"{labels.KIND}={labels.SERVICE}"]}
        )
        running: dict[tuple[str, str], int] = defaultdict(int)
        memory: dict[tuple[str, str], int] = defaultdict(int)
        names: dict[str, str] = {}
        seen: set[str] = set()
        budget = self.max_instances
        for entry in entries:
            tags = entry.get("Labels") or {}
            app_id, process = tags.get(labels.APP_ID), tags.get(labels.PROCESS)
            if not app_id or not process or app_id not in apps:
                continue
            if not labels.made_by_empire(str((entry.get("Names") or [""])[0]), tags):
                continue  # a build step's container carrying an app's labels
            key = (app_id, process)
            names[app_id] = apps[app_id]
            running.setdefault(key, 0)
            if entry.get("State") != "running":
                continue
            running[key] += 1
            ident = str(entry.get("Id"))
            seen.add(ident)  # its baselines stay, measured this round or not
            if budget <= 0:
                continue  # counted, but not measured this round
            budget -= 1
            try:
                restarts = int((self.api.inspect_container(ident) or {}).get("RestartCount") or 0)
                sample = self._stats(ident) or {}
            except Exception as exc:  # gone meanwhile, or the engine is busy: next round
                log.debug("metrics: container %s: %s", ident[:12], exc)
                continue
            self._restart_total[key] += max(0, restarts - self._restarts.get(ident, 0))
            self._restarts[ident] = restarts
            cpu = cpu_seconds(sample)
            if cpu is not None:
                self._cpu_total[key] += max(0.0, cpu - self._cpu.get(ident, 0.0))
                self._cpu[ident] = cpu
            used = memory_bytes(sample)
            if used is not None:
                memory[key] += used
        for gone in [i for i in self._cpu if i not in seen]:
            del self._cpu[gone]
        for gone in [i for i in self._restarts if i not in seen]:
            del self._restarts[gone]
        for key in [k for k in self._cpu_total if k[0] not in apps]:
            del self._cpu_total[key]
        for key in [k for k in self._restart_total if k[0] not in apps]:
            del self._restart_total[key]
        return [
            ProcessReading(
                app_id,
                names[app_id],
                process,
                count,
                cpu_seconds=self._cpu_total.get((app_id, process), 0.0),
                memory_bytes=memory.get((app_id, process), 0),
                restarts=self._restart_total.get((app_id, process), 0),
            )
            for (app_id, process), count in running.items()
        ]


def cpu_seconds(stats: Mapping[str, Any]) -> float | None:
    """A container's CPU time so far (seconds), from its stats document."""
    usage = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    return None if usage is None else int(usage) / 1e9


def memory_bytes(stats: Mapping[str, Any]) -> int | None:
    """A container's memory use as `docker stats` shows it: usage less the inactive page
    cache (`inactive_file` on cgroup v2, `total_inactive_file` on v1)."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0)) or 0
    return max(0, int(usage) - int(cache))
