"""Audit events: one value per write, with Empire's message text, and the sinks they go to.

An event names what changed, never config values: `set` events carry the variables' names.
`REQUEST_ID` holds the id of the API request being served (the gate sets it); events built
while serving it carry it, in whatever thread the facade runs.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TextIO, runtime_checkable

log = logging.getLogger("empire.events")
REQUEST_ID: ContextVar[str | None] = ContextVar("empire_request_id", default=None)


@dataclass(frozen=True, slots=True)
class Event:
    """Something a user did. `text` is Empire's sentence, e.g. `bob created acme-inc`.

    `app` is the app's name when it happened (for display); `app_id` the app it happened to:
    an app's audit trail is read by id, so a new app that reuses a name never sees the events
    of the one that had it before.
    """

    kind: str
    user: str
    app: str | None
    text: str
    message: str | None
    at: datetime
    data: dict[str, object] = field(default_factory=dict)
    request_id: str | None = None  # the API request that caused it, when there was one
    app_id: str | None = None

    def __str__(self) -> str:
        return f"{self.text}: '{self.message}'" if self.message else self.text


def event_json(event: Event) -> dict[str, Any]:
    """The event as a JSON object: the stdout line and the webhook body."""
    return {
        "kind": event.kind,
        "user": event.user,
        "app": event.app,
        "text": event.text,
        "message": event.message,
        "request_id": event.request_id,
        "at": event.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": event.data,
    }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one webhook URL (the transactional outbox's row)."""

    id: str
    event_seq: int
    url: str
    body: str  # the JSON document, exactly as signed and sent
    state: str  # pending | delivered | failed
    attempts: int
    last_error: str
    next_attempt_at: datetime | None  # when a pending delivery is due
    created_at: datetime
    updated_at: datetime


class EventSink(Protocol):
    def publish(self, event: Event) -> None: ...


class Committing(Protocol):
    """The part of a store transaction event sinks use: run work once it has committed."""

    def after_commit(self, callback: Callable[[], None]) -> None: ...


@runtime_checkable
class Recorder(Protocol):
    """A sink that writes events inside the transaction of the write they record."""

    def record(self, tx: Any, event: Event) -> None: ...


def record(sink: EventSink, tx: Committing, event: Event) -> None:
    """Record `event` as part of the write in `tx`: recorders write it in the transaction (it is
    kept if and only if the write is), other sinks get it once the transaction has committed."""
    if isinstance(sink, Recorder):
        sink.record(tx, event)
    else:  # a notification must never fail the write it reports, even after its commit
        tx.after_commit(partial(_publish_safely, sink, event))


class NullSink:
    """Drops events."""

    def publish(self, event: Event) -> None:
        pass


class LogSink:
    """Writes each event's sentence to the `empire.events` logger."""

    def publish(self, event: Event) -> None:
        log.info("%s", event)


class StdoutSink:
    """Writes each event as one JSON line (`event_json`) to stdout, for log collectors."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        line = json.dumps(event_json(event), default=str, separators=(",", ":")) + "\n"
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(line)
            stream.flush()


class MemorySink:
    """Keeps events in a list, for tests."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)


class FanOut:
    """Publishes each event to several sinks; one failing sink does not stop the others."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def publish(self, event: Event) -> None:
        for sink in self.sinks:
            _publish_safely(sink, event)

    def record(self, tx: Committing, event: Event) -> None:
        """Record in `tx` with the sinks that can; the others publish after the commit."""
        for sink in self.sinks:
            record(sink, tx, event)


def _publish_safely(sink: EventSink, event: Event) -> None:
    try:
        sink.publish(event)
    except Exception:  # a notification sink must never fail the write it reports
        log.exception("event sink %s failed", type(sink).__name__)
