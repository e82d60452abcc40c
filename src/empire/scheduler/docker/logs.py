"""An app's logs: every container's lines, prefixed like `<time> <app>[<process>.<n>]: <line>`.

History is read from each container up to a cut-off instant and merged in time order; follow
mode then streams each container from that instant on (one thread per container feeding a
queue), attaches to containers that start later, and closes every stream when the consumer
stops iterating.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from empire.scheduler import LogQuery
from empire.scheduler.docker import engine
from empire.scheduler.docker.engine import Instance, engine_errors

Key = tuple[int, int]  # (unix seconds, nanoseconds)
_RESCAN = 1.0  # seconds between looks for new containers while following


def read(api: Any, app_id: str, query: LogQuery) -> Iterator[str]:
    """Yield the app's log lines: history first (in time order), then new ones if following."""

    def instances() -> list[Instance]:
        found = engine.list_instances(api, f"{engine.APP_ID}={app_id}")
        return [i for i in found if selected(i, query.process)]

    cutoff = time.time()
    since = _timestamp(query.since)
    history: list[tuple[Key, str]] = []
    for instance in instances():
        history.extend(_history(api, instance, since, cutoff if query.follow else None, query))
    history.sort(key=lambda item: item[0])
    if query.lines is not None:
        history = history[-query.lines :] if query.lines > 0 else []
    for _, line in history:
        yield line
    if query.follow:
        yield from _follow(api, instances, max(cutoff, since or 0.0))


def selected(instance: Instance, process: str | None) -> bool:
    """Whether `process` (`web`, or one instance such as `web.1`) names the instance."""
    if not process:
        return True
    if "." in process:
        return instance.slot == process
    return process in (instance.process, instance.slot.split(".")[0])


def format_line(instance: Instance, raw: bytes) -> tuple[Key, str] | None:
    """Turn one `<RFC 3339 nano time> <text>` line of the engine into a prefixed log line."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    stamp, _, message = text.partition(" ")
    try:
        key = engine.split_nanos(stamp)
    except ValueError:
        return None
    when = datetime.fromtimestamp(key[0], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    app = instance.labels.get(engine.APP, "")
    return key, f"{when} {app}[{instance.slot}]: {message}"


def _history(
    api: Any, instance: Instance, since: float | None, until: float | None, query: LogQuery
) -> list[tuple[Key, str]]:
    with engine_errors(f"read the logs of {instance.task_name}", missing_ok=True):
        raw = api.logs(
            instance.id,
            stdout=True,
            stderr=True,
            timestamps=True,
            since=since,
            until=until,
            tail=query.lines if query.lines is not None else "all",
        )
        return [f for ln in raw.split(b"\n") if ln and (f := format_line(instance, ln))]
    return []


def _follow(api: Any, instances: Callable[[], list[Instance]], cutoff: float) -> Iterator[str]:
    lines: queue.Queue[str] = queue.Queue()
    streams: dict[str, Any] = {}
    floor = (int(cutoff), round((cutoff % 1) * 1e9))
    last_scan = 0.0
    try:
        while True:
            if time.monotonic() - last_scan >= _RESCAN:
                _attach(api, instances(), streams, lines, cutoff, floor)
                last_scan = time.monotonic()
            try:
                line = lines.get(timeout=_RESCAN)
            except queue.Empty:
                continue
            yield line
    finally:
        for stream in streams.values():
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()


def _attach(
    api: Any,
    found: Iterable[Instance],
    streams: dict[str, Any],
    lines: queue.Queue[str],
    cutoff: float,
    floor: Key,
) -> None:
    for instance in found:
        if instance.id in streams:
            continue
        streams[instance.id] = None
        with engine_errors(f"follow the logs of {instance.task_name}", missing_ok=True):
            stream = api.logs(
                instance.id,
                stdout=True,
                stderr=True,
                timestamps=True,
                stream=True,
                follow=True,
                since=cutoff,
            )
            streams[instance.id] = stream
            threading.Thread(
                target=_pump,
                args=(stream, instance, lines, floor),
                name=f"empire-logs-{instance.short_id}",
                daemon=True,
            ).start()


def _pump(stream: Any, instance: Instance, lines: queue.Queue[str], floor: Key) -> None:
    """Feed one container's followed lines to the queue until its stream ends or is closed."""
    buffer = b""
    with contextlib.suppress(Exception):  # a closed stream ends the thread, whatever it raises
        for chunk in stream:
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                formatted = format_line(instance, raw)
                if formatted is not None and formatted[0] > floor:
                    lines.put(formatted[1])


def _timestamp(since: datetime | None) -> float | None:
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(since.timestamp(), 0.001)
