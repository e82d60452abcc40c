"""An app's logs on Swarm: each service is a `kit.logs.Source` read from the service's logs
(the manager gathers its lines from every node), prefixed `<time> <app>[<process>.<slot>]: `.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from empire.scheduler import LogQuery, labels
from empire.scheduler.kit import logs
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.kit.logs import Closer, Line, Source
from empire.scheduler.kit.times import log_time, split_nanos
from empire.scheduler.swarm import engine, tasks


class Slots:
    """Task id -> `<process>.<slot>` of one service, read again when a task is unknown."""

    def __init__(self, api: EngineAPI, service: Json) -> None:
        self._api = api
        self.service = service
        self._slots: dict[str, str] = {}

    def __call__(self, task_id: str) -> str:
        if task_id not in self._slots:
            for task in engine.tasks(self._api, self.service["ID"]):
                self._slots[task["ID"]] = tasks.slot(task)
        return self._slots.get(task_id, "?")


def read(api: EngineAPI, app_id: str, query: LogQuery) -> Iterator[str]:
    """Yield the app's log lines: history first (in time order), then new ones if following."""

    def sources() -> list[Source]:
        found = engine.services(api, f"{labels.APP_ID}={app_id}")
        return [source(api, s, query) for s in found if _selected(s, query.process)]

    return logs.read(sources, query)


def _selected(service: Json, process: str | None) -> bool:
    if not process:
        return True
    tags = service["Spec"].get("Labels") or {}
    kind = tags.get(labels.KIND)
    kind = kind if kind in (labels.RUN, labels.RELEASE_PHASE) else tags.get(labels.PROCESS, "")
    return process.split(".", 1)[0] in (kind, tags.get(labels.PROCESS))


def source(api: EngineAPI, service: Json, query: LogQuery) -> Source:
    """One service's lines (one instance's only, when the query names one: `web.2`)."""
    slots = Slots(api, service)
    app = (service["Spec"].get("Labels") or {}).get(labels.APP, "")
    wanted = query.process if query.process and "." in query.process else None

    def lines(**params: Any) -> Iterator[Line]:
        for stamp, attrs, message in engine.service_log_lines(api, service["ID"], **params):
            try:
                key = split_nanos(stamp)
            except ValueError:
                continue
            slot = slots(attrs.get("com.docker.swarm.task.id", ""))
            if wanted is None or slot == wanted:
                yield key, f"{log_time(key)} {app}[{slot}]: {message}"

    def history(since: float | None, until: float | None, count: int | None) -> list[Line]:
        params: dict[str, Any] = {"tail": count if count is not None else "all"}
        if since is not None:
            params["since"] = f"{since:.9f}"
        found = list(lines(**params))
        return [line for line in found if until is None or line[0][0] <= until]

    def follow(since: float, on_open: Callable[[Closer], None]) -> Iterator[Line]:
        return lines(follow=True, since=f"{since:.9f}", tail="all", on_open=on_open)

    return Source(service["ID"], service["ID"][:12], history, follow)
