"""An app's logs on the Docker backend: each container is a `kit.logs.Source`, its lines
prefixed `<time> <app>[<process>.<n>]: <line>`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from empire.scheduler import LogQuery, labels
from empire.scheduler.docker.instances import Instance, list_instances
from empire.scheduler.kit import logs
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.logs import Closer, Line, Source
from empire.scheduler.kit.times import log_time, split_nanos


def read(api: EngineAPI, app_id: str, query: LogQuery) -> Iterator[str]:
    """Yield the app's log lines: history first (in time order), then new ones if following."""

    def sources() -> list[Source]:
        found = list_instances(api, f"{labels.APP_ID}={app_id}")
        return [source(api, i) for i in found if selected(i, query.process)]

    return logs.read(sources, query)


def selected(instance: Instance, process: str | None) -> bool:
    """Whether `process` (`web`, or one instance such as `web.1`) names the instance."""
    if not process:
        return True
    if "." in process:
        return instance.slot == process
    return process in (instance.process, instance.slot.split(".")[0])


def format_line(instance: Instance, raw: bytes) -> Line | None:
    """Turn one `<RFC 3339 nano time> <text>` line of the engine into a prefixed log line."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    stamp, _, message = text.partition(" ")
    try:
        key = split_nanos(stamp)
    except ValueError:
        return None
    app = instance.labels.get(labels.APP, "")
    return key, f"{log_time(key)} {app}[{instance.slot}]: {message}"


def source(api: EngineAPI, instance: Instance) -> Source:
    """One container's lines."""

    def history(since: float | None, until: float | None, lines: int | None) -> list[Line]:
        with engine_errors(f"read the logs of {instance.task_name}", missing_ok=True):
            raw = api.logs(
                instance.id,
                stdout=True,
                stderr=True,
                timestamps=True,
                since=since,
                until=until,
                tail=lines if lines is not None else "all",
            )
            return [f for ln in logs.split_lines([raw]) if ln and (f := format_line(instance, ln))]
        return []

    def follow(since: float, on_open: Callable[[Closer], None]) -> Iterator[Line]:
        stream = None
        with engine_errors(f"follow the logs of {instance.task_name}", missing_ok=True):
            stream = api.logs(
                instance.id,
                stdout=True,
                stderr=True,
                timestamps=True,
                stream=True,
                follow=True,
                since=since,
            )
        if stream is None:  # gone already
            return
        on_open(stream.close)
        for raw in logs.split_lines(stream):
            if (formatted := format_line(instance, raw)) is not None:
                yield formatted

    return Source(instance.id, instance.short_id, history, follow)
