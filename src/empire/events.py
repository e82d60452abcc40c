"""Audit events: one value per write, with Empire's message text, and the sinks they go to."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

log = logging.getLogger("empire.events")


@dataclass(frozen=True, slots=True)
class Event:
    """Something a user did. `text` is Empire's sentence, e.g. `bob created acme-inc`."""

    kind: str
    user: str
    app: str | None
    text: str
    message: str | None
    at: datetime
    data: dict[str, object] = field(default_factory=dict)
    request_id: str | None = None  # the API request that caused it, when there was one

    def __str__(self) -> str:
        return f"{self.text}: '{self.message}'" if self.message else self.text


class EventSink(Protocol):
    def publish(self, event: Event) -> None: ...


class NullSink:
    """Drops events."""

    def publish(self, event: Event) -> None:
        pass


class LogSink:
    """Writes each event's sentence to the `empire.events` logger."""

    def publish(self, event: Event) -> None:
        log.info("%s", event)


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
            try:
                sink.publish(event)
            except Exception:  # an audit sink must never fail the write it records
                log.exception("event sink %s failed", type(sink).__name__)
