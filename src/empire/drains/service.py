"""The drain service: every drain's outlet on one event loop thread, fed with the app's lines.

- Platform and router lines come from the `AppLog` (a listener that only queues).
- Process output: for each app that has drains, one thread follows the scheduler's own
  `logs(app_id, LogQuery(follow=True, since=now))`; a follow that ends (the backend's
  stream broke, Empire's engine connection dropped) starts again after a backoff, from then
  on; the thread ends within a few seconds once the app's last drain is removed.
- The drains themselves are read from the store every `refresh_every` seconds and at once
  when a use case changed them (`changed`), so they survive restarts and follow renames and
  destroyed apps.
- Every ten seconds, a drain that dropped lines gets Heroku's line in its app's log:
  `Error L10 (output buffer overflow): N messages dropped since <time>`.

One loop thread runs every outlet: a drain that is down or slow holds only its own task and
buffer (see `outlet`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from empire.applog import AppLog, LogLine
from empire.drains.frames import parse_process_line
from empire.drains.outlet import CAPACITY, Connector, Outlet
from empire.drains.rules import Drain
from empire.errors import Invalid
from empire.scheduler import LogQuery

log = logging.getLogger(__name__)
SOURCE = "drain"  # the source of the platform lines drains write into the app's log
REPORT_EVERY = 10.0  # seconds between two overflow lines of one drain
FOLLOW_BACKOFF_MAX = 30.0


class DrainSource(Protocol):
    """Where the drains are read from (the facade's `live_drains`)."""

    def live_drains(self) -> list[tuple[str, Drain]]: ...


class LogReader(Protocol):
    """What follows an app's process output (the scheduler)."""

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]: ...


class DrainService:
    """Runs the drains (see the module). `start` and `close` are called once each."""

    def __init__(
        self,
        source: DrainSource,
        reader: LogReader,
        connector: Connector,
        applog: AppLog | None = None,
        *,
        refresh_every: float = 5.0,
        capacity: int = CAPACITY,
        report_every: float = REPORT_EVERY,
        follow_processes: bool = True,
    ) -> None:
        self.source = source
        self.reader = reader
        self.connector = connector
        self.applog = applog
        self.refresh_every = refresh_every
        self.capacity = capacity
        self.report_every = report_every
        self.follow_processes = follow_processes
        self.loop = asyncio.new_event_loop()
        self._outlets: dict[str, Outlet] = {}  # by drain id; changed on the loop only
        self._by_app: dict[str, tuple[Outlet, ...]] = {}  # replaced whole, read anywhere
        self._followers: dict[str, threading.Event] = {}  # app id -> its follow's stop
        self._follow_lock = threading.Lock()
        self._changed = threading.Event()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unlisten: Callable[[], None] | None = None
        self._skipped: set[str] = set()  # drains whose URL no longer parses (logged once)

    # -- life ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread and the refresh thread (which reads the drains at once)."""
        for name, target in (
            ("empire-drains", self._run_loop),
            ("empire-drains-refresh", self._refresh_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.applog is not None:
            self._unlisten = self.applog.listen(self._on_line)

    def close(self) -> None:
        """Stop listening, following and sending (what is still buffered is dropped)."""
        if self._unlisten is not None:
            self._unlisten()
        self._closed.set()
        self._changed.set()
        with self._follow_lock:  # the refresh thread may be starting one right now
            for stop in self._followers.values():
                stop.set()
        if not self._threads:  # never started
            self.loop.close()
            return
        with contextlib.suppress(RuntimeError, TimeoutError):
            asyncio.run_coroutine_threadsafe(self._stop_all(), self.loop).result(timeout=10)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        for thread in self._threads:
            thread.join(timeout=10)

    def changed(self) -> None:
        """The drains changed in the store: read them again now (any thread, never blocks)."""
        self._changed.set()

    # -- what callers may look at ----------------------------------------------------------------

    def outlets(self) -> list[Outlet]:
        return list(self._outlets.values())

    def backlog(self) -> int:
        """Lines waiting in every drain's buffer (the `empire_drain_backlog` metric)."""
        return sum(outlet.buffered for outlet in self.outlets())

    def followed(self) -> set[str]:
        """The apps whose process output is followed."""
        return set(self._followers)

    # -- the lines ------------------------------------------------------------------------------

    def _on_line(self, line: LogLine) -> None:
        """The AppLog's listener: queue the line on the app's drains (never blocks)."""
        for outlet in self._by_app.get(line.app_id, ()):
            outlet.offer(line.source, line.text, line.at)

    def _process_line(self, app_id: str, line: str, floor: datetime) -> None:
        parsed = parse_process_line(line, datetime.now(UTC))
        if parsed is None:
            return
        source, text, at = parsed
        if at < floor:  # the history a restarted follow gives again
            return
        for outlet in self._by_app.get(app_id, ()):
            outlet.offer(source, text, at)

    # -- the drains, from the store -------------------------------------------------------------

    def refresh(self) -> None:
        """Read the drains and make the outlets and follows match them."""
        rows = self.source.live_drains()
        desired = {drain.id: (app, drain) for app, drain in rows}
        future = asyncio.run_coroutine_threadsafe(self._apply(desired), self.loop)
        future.result(timeout=30)
        if self.follow_processes:
            self._follow({drain.app_id for _, drain in rows})

    def _refresh_loop(self) -> None:
        while not self._closed.is_set():
            self._changed.clear()
            try:
                self.refresh()
            except (
                Exception,
                concurrent.futures.TimeoutError,
            ):  # the store may be down: next round
                log.exception("reading the log drains")
            self._changed.wait(self.refresh_every)

    async def _apply(self, desired: dict[str, tuple[str, Drain]]) -> None:
        for drain_id in set(self._outlets) - set(desired):
            self._outlets.pop(drain_id).stop()
        for drain_id, (app, drain) in desired.items():
            outlet = self._outlets.get(drain_id)
            if outlet is None:
                try:
                    outlet = Outlet(drain, app, self.connector, self.loop, capacity=self.capacity)
                except Invalid as exc:  # stored under older rules: skipped, the rest run
                    if drain_id not in self._skipped:
                        log.warning("log drain %s of %s is skipped: %s", drain.token, app, exc)
                        self._skipped.add(drain_id)
                    continue
                self._outlets[drain_id] = outlet
                outlet.start()
            outlet.app = app  # a rename shows in the next frames
        by_app: dict[str, list[Outlet]] = {}
        for outlet in self._outlets.values():
            by_app.setdefault(outlet.drain.app_id, []).append(outlet)
        self._by_app = {app_id: tuple(outlets) for app_id, outlets in by_app.items()}

    async def _stop_all(self) -> None:
        for outlet in self._outlets.values():
            outlet.stop()
        self._outlets.clear()
        self._by_app = {}

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        reporter = self.loop.create_task(self._report_loop())
        try:
            self.loop.run_forever()
        finally:
            reporter.cancel()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    # -- overflow lines -------------------------------------------------------------------------

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(self.report_every)
            self.report()

    def report(self) -> None:
        """Write an overflow line for each drain that dropped lines since the last report."""
        for outlet in list(self._outlets.values()):
            dropped, since = outlet.take_dropped()
            if not dropped or since is None:
                continue
            stamp = since.isoformat(timespec="seconds").replace("+00:00", "Z")
            text = (
                f"Error L10 (output buffer overflow): {dropped} messages dropped since {stamp} "
                f"(drain {outlet.drain.token})"
            )
            if self.applog is None:
                log.warning("%s[%s]: %s", outlet.app, SOURCE, text)
                continue
            line = LogLine(outlet.drain.app_id, outlet.app, SOURCE, text, datetime.now(UTC))
            self.applog.write(line)

    # -- process output -------------------------------------------------------------------------

    def _follow(self, apps: set[str]) -> None:
        with self._follow_lock:
            if self._closed.is_set():
                return
            self._follow_changes(apps)

    def _follow_changes(self, apps: set[str]) -> None:
        for app_id in set(self._followers) - apps:
            self._followers.pop(app_id).set()
        for app_id in apps - set(self._followers):
            stop = threading.Event()
            self._followers[app_id] = stop
            thread = threading.Thread(
                target=self._follow_app,
                args=(app_id, stop),
                name=f"empire-drain-{app_id[:8]}",
                daemon=True,
            )
            thread.start()

    def _follow_app(self, app_id: str, stop: threading.Event) -> None:
        """Follow the app's process output until `stop`, starting again when a follow ends."""
        delay = 1.0
        while not stop.is_set() and not self._closed.is_set():
            started = time.monotonic()
            since = datetime.now(UTC)
            floor = since - timedelta(seconds=1)  # lines carry whole seconds
            lines = None
            try:
                lines = self.reader.logs(app_id, LogQuery(since=since, follow=True))
                for line in lines:
                    if stop.is_set():
                        break
                    if line:
                        self._process_line(app_id, line, floor)
            except Exception:  # the backend's stream broke: follow again after the backoff
                log.warning("following the output of app %s for its drains", app_id, exc_info=True)
            finally:
                close = getattr(lines, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
            if time.monotonic() - started > 60:
                delay = 1.0
            stop.wait(delay)
            delay = min(delay * 2, FOLLOW_BACKOFF_MAX)
