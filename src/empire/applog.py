"""The platform's lines in each app's log stream, and who listens to them.

Besides its processes' output, an app's log carries the lines Empire itself writes: `api`
(a release, scale, config change by name only, rollback, maintenance, domains), a process's
state changes (`web.1`: `State changed from starting to up`), the release phase
(`release.5`) and the router's line for each public request (`router`). Each is a `LogLine`,
written once through an `AppLog`, which keeps a bounded history per app and hands every line
to its listeners (log follows, drains, metrics). A listener must never block: it copies what
it needs into a bounded buffer of its own.

This module is the seam only: the core writes through the `AppLog` protocol, the wiring
chooses the implementation (`empire.applogs.memory.MemoryAppLog`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

# The sources Empire writes, besides process slots such as `web.1` and `release.5`.
API = "api"
ROUTER = "router"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of an app's log as Empire writes it: `<time> <app>[<source>]: <text>`.

    `app_id` says whose log it is (names can be reused); `app` is the name when written.
    """

    app_id: str
    app: str
    source: str
    text: str
    at: datetime

    def __str__(self) -> str:
        stamp = self.at.astimezone(UTC).isoformat(timespec="microseconds")
        return f"{stamp.replace('+00:00', 'Z')} {self.app}[{self.source}]: {self.text}"


Listener = Callable[[LogLine], None]


class AppLog(Protocol):
    def write(self, line: LogLine) -> None:
        """Keep `line` in its app's history and hand it to every listener; never blocks on
        a listener and never raises."""
        ...

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every line written from now on; returns the function that
        stops it."""
        ...

    def history(self, app_id: str, since: datetime | None = None) -> list[LogLine]:
        """The app's kept lines, oldest first (from `since` on, when given)."""
        ...

    def follow(self, app_id: str, listener: Listener) -> tuple[list[LogLine], Callable[[], None]]:
        """The app's kept lines, and `listener` called with each line of the app written after
        them (taken at once: no line in both, none missed); returns both and the function that
        stops the listener."""
        ...

    def forget(self, app_id: str) -> None:
        """Drop the app's history (the app was destroyed)."""
        ...
