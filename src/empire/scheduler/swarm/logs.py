"""An app's logs from its services' logs, prefixed `<time> <app>[<process>.<slot>]: <line>`.

The manager gathers each service's lines from every node (`docker service logs`). History is
read per service and merged in time order; follow mode then streams each service (one thread
per service feeding a queue) from the instant the history was cut, skips what the history
already gave, picks up services that appear later (one-off runs), and closes every stream when
the consumer stops iterating.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from empire.scheduler import LogQuery
from empire.scheduler.swarm import engine, tasks

Key = tuple[int, int]  # (unix seconds, nanoseconds)
_RESCAN = 1.0


class Slots:
    """Task id -> `<process>.<slot>` of one service, read again when a task is unknown."""

    def __init__(self, api: Any, service: dict[str, Any]) -> None:
        self._api = api
        self.service = service
        self._slots: dict[str, str] = {}

    def __call__(self, task_id: str) -> str:
        if task_id not in self._slots:
            for task in engine.tasks(self._api, self.service["ID"]):
                self._slots[task["ID"]] = tasks.slot(task)
        return self._slots.get(task_id, "?")


def read(api: Any, app_id: str, query: LogQuery) -> Iterator[str]:
    """Yield the app's log lines: history first (in time order), then new ones if following."""

    def services() -> list[dict[str, Any]]:
        found = engine.services(api, f"{engine.APP_ID}={app_id}")
        return [s for s in found if _selected(s, query.process)]

    cutoff = time.time()
    since = _timestamp(query.since)
    history: list[tuple[Key, str]] = []
    last: dict[str, Key] = {}
    for service in services():
        lines = _lines(api, service, Slots(api, service), query, since=since)
        if lines:
            last[service["ID"]] = max(k for k, _ in lines)
        history.extend(lines)
    history.sort(key=lambda item: item[0])
    if query.lines is not None:
        history = history[-query.lines :] if query.lines > 0 else []
    for _, line in history:
        yield line
    if query.follow:
        yield from _follow(api, services, query, max(cutoff, since or 0.0), last)


def _selected(service: dict[str, Any], process: str | None) -> bool:
    if not process:
        return True
    labels = service["Spec"].get("Labels") or {}
    kind = "run" if labels.get(engine.KIND) == engine.RUN else labels.get(engine.PROCESS, "")
    return process.split(".", 1)[0] in (kind, labels.get(engine.PROCESS))


def _lines(
    api: Any,
    service: dict[str, Any],
    slots: Slots,
    query: LogQuery,
    *,
    since: float | None,
    follow: bool = False,
) -> list[tuple[Key, str]]:
    params: dict[str, Any] = {"tail": query.lines if query.lines is not None else "all"}
    if since is not None:
        params["since"] = f"{since:.9f}"
    return list(_format(api, service, slots, query, follow=follow, **params))


def _format(
    api: Any, service: dict[str, Any], slots: Slots, query: LogQuery, **params: Any
) -> Iterator[tuple[Key, str]]:
    app = (service["Spec"].get("Labels") or {}).get(engine.APP, "")
    wanted = query.process if query.process and "." in query.process else None
    for stamp, attrs, message in engine.service_log_lines(api, service["ID"], **params):
        try:
            key = _split(stamp)
        except ValueError:
            continue
        slot = slots(attrs.get("com.docker.swarm.task.id", ""))
        if wanted is not None and slot != wanted:
            continue
        when = datetime.fromtimestamp(key[0], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield key, f"{when} {app}[{slot}]: {message}"


def _follow(
    api: Any,
    services: Callable[[], list[dict[str, Any]]],
    query: LogQuery,
    cutoff: float,
    last: dict[str, Key],
) -> Iterator[str]:
    lines: queue.Queue[str] = queue.Queue()
    followed: set[str] = set()
    closers: list[Callable[[], None]] = []
    last_scan = 0.0
    try:
        while True:
            if time.monotonic() - last_scan >= _RESCAN:
                for service in services():
                    if service["ID"] in followed:
                        continue
                    followed.add(service["ID"])
                    floor = last.get(service["ID"], (0, 0))
                    threading.Thread(
                        target=_pump,
                        args=(api, service, query, cutoff, floor, lines, closers.append),
                        name=f"empire-swarm-logs-{service['ID'][:12]}",
                        daemon=True,
                    ).start()
                last_scan = time.monotonic()
            try:
                yield lines.get(timeout=_RESCAN)
            except queue.Empty:
                continue
    finally:
        for close in list(closers):
            with contextlib.suppress(Exception):
                close()


def _pump(
    api: Any,
    service: dict[str, Any],
    query: LogQuery,
    cutoff: float,
    floor: Key,
    lines: queue.Queue[str],
    on_open: Callable[[Callable[[], None]], None],
) -> None:
    """Feed one service's followed lines to the queue until its response is closed."""
    slots = Slots(api, service)
    with contextlib.suppress(Exception):  # a closed response or a removed service ends it
        params = {"follow": True, "since": f"{cutoff:.9f}", "tail": "all", "on_open": on_open}
        for key, line in _format(api, service, slots, query, **params):
            if key > floor:
                lines.put(line)


def _split(text: str) -> Key:
    when = engine.parse_time(text)
    if when is None:
        raise ValueError(text)
    fraction = text.partition(".")[2].rstrip("Z")
    digits = fraction[: len(fraction) - len(fraction.lstrip("0123456789"))] or "0"
    return int(when.timestamp()), int(digits.ljust(9, "0")[:9])


def _timestamp(since: datetime | None) -> float | None:
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(since.timestamp(), 0.001)
