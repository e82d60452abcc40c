"""`MemoryAppLog`: the platform lines of each app, in memory, and who listens to them.

Each app keeps its last `HISTORY_LINES` lines (Heroku's logplex keeps 1,500) and at most
`HISTORY_BYTES` of text, in a ring: a router line per request costs an append, never a
database write. Nothing of it survives a restart of Empire (process output does: it stays
with the engine; a release's phase output is kept on the release). A destroyed app's history
is dropped (`forget`).

Listeners are called in the writer's thread, outside the lock, each in a `try`: one that
raises is logged and the others still get the line. A listener must not block (a follow puts
the line in a bounded queue of its own and drops it when that is full).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from empire.applog import Listener, LogLine
from empire.applogs import text

log = logging.getLogger(__name__)
HISTORY_LINES = 1_500
HISTORY_BYTES = 1_000_000  # of text per app: 1,500 lines of the 10,000 bytes allowed is 15 MB


class _History:
    __slots__ = ("bytes", "lines")

    def __init__(self) -> None:
        self.lines: collections.deque[LogLine] = collections.deque()
        self.bytes = 0


FORGOTTEN = 10_000  # destroyed apps whose late lines are refused


class MemoryAppLog:
    """The `AppLog` Empire runs with (see the module's docstring)."""

    def __init__(self, lines: int = HISTORY_LINES, max_bytes: int = HISTORY_BYTES) -> None:
        self._max_lines = lines
        self._max_bytes = max_bytes
        self._apps: dict[str, _History] = {}
        self._listeners: tuple[Listener, ...] = ()
        self._followers: dict[str, tuple[Listener, ...]] = {}
        # Destroyed apps, most recent last: their containers' last events and late router
        # lines come after the destroy and must not start a history nobody frees.
        self._forgotten: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def write(self, line: LogLine) -> None:
        """Keep the line (its text escaped and bounded) and hand it to every listener."""
        try:
            line = dataclasses.replace(
                line,
                text=text.clean(line.text),
                source=text.field(line.source, 100),
                app=text.field(line.app, 100),
            )
            size = len(line.text)
            with self._lock:
                if line.app_id in self._forgotten:
                    return
                history = self._apps.get(line.app_id)
                if history is None:
                    history = self._apps[line.app_id] = _History()
                history.lines.append(line)
                history.bytes += size
                while history.lines and (
                    len(history.lines) > self._max_lines or history.bytes > self._max_bytes
                ):
                    history.bytes -= len(history.lines.popleft().text)
                listeners = self._listeners + self._followers.get(line.app_id, ())
        except Exception:  # writing a log line must never fail what is being logged
            log.exception("cannot keep a log line of %s", line.app_id)
            return
        for listener in listeners:
            try:
                listener(line)
            except Exception:
                log.exception("log listener %r failed", listener)

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every line of every app from now on."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def stop() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return stop

    def follow(self, app_id: str, listener: Listener) -> tuple[list[LogLine], Callable[[], None]]:
        """The app's history, and `listener` called with each of its lines written after it:
        taken at once, so no line is in both and none is missed."""
        with self._lock:
            history = self._apps.get(app_id)
            lines = list(history.lines) if history else []
            self._followers[app_id] = (*self._followers.get(app_id, ()), listener)

        def stop() -> None:
            with self._lock:
                left = tuple(x for x in self._followers.get(app_id, ()) if x is not listener)
                if left:
                    self._followers[app_id] = left
                else:
                    self._followers.pop(app_id, None)

        return lines, stop

    def history(self, app_id: str, since: datetime | None = None) -> list[LogLine]:
        """The app's kept lines, oldest first (from `since` on, when given)."""
        with self._lock:
            history = self._apps.get(app_id)
            lines = list(history.lines) if history else []
        if since is None:
            return lines
        return [line for line in lines if line.at >= since]

    def forget(self, app_id: str) -> None:
        """Drop the app's history (it was destroyed) and refuse its lines from now on (the
        last FORGOTTEN destroyed apps are remembered)."""
        with self._lock:
            self._apps.pop(app_id, None)
            self._forgotten[app_id] = None
            while len(self._forgotten) > FORGOTTEN:
                self._forgotten.popitem(last=False)
