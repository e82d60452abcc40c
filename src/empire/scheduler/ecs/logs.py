"""An app's logs from CloudWatch Logs, where the awslogs driver of its tasks writes them.

Streams are named `<app>/<process>/<task id>` (the stream prefix is the app's name), so a
process, or one task (`web.1a2b3c4d`), is a stream name prefix. Lines are printed like the
Docker backend's: `<time> <app>[<process>.<id8>]: <message>`. Following polls for newer
events every `poll` seconds until the consumer stops iterating.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from empire.scheduler import LogQuery
from empire.scheduler.ecs.aws import Aws


def read(
    aws: Aws,
    group: str,
    app: str,
    query: LogQuery,
    *,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    prefix = f"{app}/"
    if query.process:
        process, _, task = query.process.partition(".")
        prefix += f"{process}/{task}" if task else f"{process}/"
    start = int(query.since.timestamp() * 1000) if query.since else None
    seen: set[str] = set()
    events = list(_events(aws, group, prefix, start))
    if query.lines is not None:
        events = events[-query.lines :] if query.lines > 0 else []
    newest = start or 0
    for event in events:
        seen.add(str(event.get("eventId", "")))
        newest = max(newest, int(event["timestamp"]))
        yield _line(app, event)
    while query.follow:
        sleep(poll)
        yield ""  # quiet: the consumer may stop here (see Scheduler.logs)
        for event in _events(aws, group, prefix, newest):
            key = str(event.get("eventId", ""))
            if key in seen:
                continue
            seen.add(key)
            newest = max(newest, int(event["timestamp"]))
            yield _line(app, event)


def _events(aws: Aws, group: str, prefix: str, start: int | None) -> list[Any]:
    found: list[Any] = []
    token: str | None = None
    while True:
        extra: dict[str, Any] = {"startTime": start} if start is not None else {}
        if token:
            extra["nextToken"] = token
        page = aws.call(
            "read the app's logs",
            aws.logs.filter_log_events,
            ok=("ResourceNotFoundException",),
            logGroupName=group,
            logStreamNamePrefix=prefix,
            **extra,
        )
        if page is None:
            return []
        found += [
            e for e in page.get("events", []) if str(e.get("logStreamName", "")).startswith(prefix)
        ]
        token = page.get("nextToken")
        if not token:
            return sorted(found, key=lambda e: (int(e["timestamp"]), str(e.get("eventId", ""))))


def _line(app: str, event: Any) -> str:
    stamp = datetime.fromtimestamp(int(event["timestamp"]) / 1000, UTC)
    parts = str(event.get("logStreamName", "")).split("/")
    process = parts[1] if len(parts) > 1 else "?"
    task = parts[2][:8] if len(parts) > 2 else ""
    source = f"{process}.{task}" if task else process
    message = str(event.get("message", "")).rstrip("\n")
    return f"{stamp.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {app}[{source}]: {message}"


class StreamReader:
    """Reads one log stream from its start, a page at a time, resuming where it stopped.

    A stream not created yet (the task has not started) reads as empty. `read` returns the
    messages that came since the last call, split into lines.
    """

    def __init__(self, aws: Aws, group: str, stream: str, *, pages: int = 10) -> None:
        self._aws = aws
        self._group = group
        self.stream = stream
        self._token: str | None = None
        self._pages = pages

    def read(self) -> list[str]:
        lines: list[str] = []
        for _ in range(self._pages):
            extra: dict[str, Any] = {"nextToken": self._token} if self._token else {}
            page = self._aws.call(
                f"read log stream {self.stream}",
                self._aws.logs.get_log_events,
                ok=("ResourceNotFoundException",),
                logGroupName=self._group,
                logStreamName=self.stream,
                startFromHead=True,
                **extra,
            )
            if page is None:
                return lines
            events = page.get("events", [])
            token = page.get("nextForwardToken")
            if token:
                self._token = str(token)
            for event in events:
                lines += str(event.get("message", "")).rstrip("\n").split("\n")
            if not events:  # caught up: AWS answers the same token again
                return lines
        return lines
