"""An app's whole log: its processes' output and the platform's lines, in time order.

History is the backend's lines (`Scheduler.logs`) and the app log's kept lines merged by
time: a process line's time is its first word (`2024-05-01T12:00:00Z`); a platform line goes
before the first process line that is later than it. With `lines`, the last `lines` of the
merge. A `process` filter applies to both, as Heroku's `--dyno`/`-p`: `web` selects `web.1`,
`web.2` and their state lines, `web.1` only that one, `router` and `api` only the platform's
lines (the backend is not asked then).

Following, the app log's lines from the moment of the cut (`AppLog.follow`) and the backend's
followed lines (read by a thread of the follow's own into a bounded queue) are written as they
come. A quiet follow yields "" every second, as `Scheduler.logs` does, so its consumer can
notice that its client left; closing the iterator stops the listener and that thread.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from empire.applog import API, ROUTER, AppLog, LogLine
from empire.scheduler import LogQuery

ProcessLines = Callable[[LogQuery], Iterator[str]]
QUIET = 1.0  # seconds: a follow with nothing to say yields "" this often
FOLLOW_BUFFER = 10_000  # lines a follow holds for a slow client; more platform lines drop
PLATFORM_ONLY = frozenset({API, ROUTER})
_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)")
_PROCESS, _LIVE, _QUIET, _END = range(4)


def selects(source: str, process: str | None) -> bool:
    """Whether a line from `source` (`web.1`, `router`) is one `process` asks for."""
    if not process:
        return True
    if "." in process:
        return source == process
    return source == process or source.split(".", 1)[0] == process


def line_time(line: str) -> float | None:
    """The unix time a process line starts with, or None when it starts with none."""
    found = _STAMP.match(line.partition(" ")[0])
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    try:
        at = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return at.timestamp() + float("0" + (fraction or ""))


def read(applog: AppLog, app_id: str, query: LogQuery, process: ProcessLines) -> Iterator[str]:
    """Yield the app's log: history in time order, then (following) lines as they come."""
    if query.follow:
        return _follow(applog, app_id, query, process)
    kept = [line for line in applog.history(app_id, query.since) if _wanted(line, query)]
    lines = _merge(_process_lines(process, query), _last(kept, query.lines))
    return iter(_last(lines, query.lines)) if query.lines is not None else lines


def _wanted(line: LogLine, query: LogQuery) -> bool:
    return selects(line.source, query.process) and (query.since is None or line.at >= query.since)


def _process_lines(process: ProcessLines, query: LogQuery) -> Iterator[str]:
    if query.process in PLATFORM_ONLY:
        return iter(())
    return process(query)


def _last(lines: Iterable[object], n: int | None) -> list[str]:
    """The last `n` (None: all) of `lines`, as text."""
    if n is None:
        return [str(line) for line in lines]
    kept = collections.deque((line for line in lines), maxlen=max(n, 0))
    return [str(line) for line in kept]


class _Merger:
    """Merges the backend's lines, in their order, with platform lines sorted by time."""

    def __init__(self, platform: list[str], times: list[float]) -> None:
        self.platform = collections.deque(zip(times, platform, strict=True))
        self.last = float("-inf")

    def before(self, line: str) -> list[str]:
        """The platform lines due before the backend's `line`, then it."""
        at = line_time(line)
        self.last = self.last if at is None else at
        out = []
        while self.platform and self.platform[0][0] <= self.last:
            out.append(self.platform.popleft()[1])
        out.append(line)
        return out

    def rest(self) -> list[str]:
        out = [line for _, line in self.platform]
        self.platform.clear()
        return out


def _times(lines: list[str]) -> list[float]:
    return [line_time(line) or 0.0 for line in lines]


def _merge(process: Iterator[str], platform: list[str]) -> Iterator[str]:
    merger = _Merger(platform, _times(platform))
    try:
        for line in process:
            yield from merger.before(line)
    finally:
        close = getattr(process, "close", None)
        if close is not None:
            close()
    yield from merger.rest()


def _follow(applog: AppLog, app_id: str, query: LogQuery, process: ProcessLines) -> Iterator[str]:
    items: queue.Queue[tuple[int, str]] = queue.Queue(FOLLOW_BUFFER)

    def on_line(line: LogLine) -> None:
        if selects(line.source, query.process):
            with contextlib.suppress(queue.Full):  # a client that does not read loses lines
                items.put_nowait((_LIVE, str(line)))

    kept, stop = applog.follow(app_id, on_line)
    cutoff = time.time()
    done = threading.Event()
    try:
        platform = _last([line for line in kept if _wanted(line, query)], query.lines)
        merger = _Merger(platform, _times(platform))
        threading.Thread(
            target=_pump,
            args=(_process_lines(process, query), items, done),
            name=f"empire-applog-{app_id[:8]}",
            daemon=True,
        ).start()
        history: collections.deque[str] = collections.deque(
            maxlen=max(query.lines, 0) if query.lines is not None else None
        )
        stash: list[str] = []  # platform lines written while the history was being read
        reading = True
        while True:
            try:
                kind, line = items.get(timeout=QUIET)
            except queue.Empty:
                kind, line = _QUIET, ""
            if reading and kind == _PROCESS and (line_time(line) or 0.0) <= cutoff:
                history.extend(merger.before(line))
                if query.lines is None:  # nothing to cut: no need to hold them
                    yield from history
                    history.clear()
                continue
            if reading and kind == _LIVE:
                if len(stash) < FOLLOW_BUFFER:
                    stash.append(line)
                continue
            if reading:  # the backend's history has ended: a later line, a pause or its end
                reading = False
                history.extend(merger.rest())
                yield from history
                yield from stash
                history.clear()
                stash.clear()
            if kind in (_PROCESS, _LIVE):
                yield line
            elif kind == _QUIET:
                yield ""
            elif query.process not in PLATFORM_ONLY:
                return  # the backend's follow ended (it never does on the engines): so does this
    finally:
        done.set()
        stop()


def _pump(lines: Iterator[str], items: queue.Queue[tuple[int, str]], done: threading.Event) -> None:
    """Copy the backend's lines into the follow's queue until it ends or the follow does."""
    try:
        for line in lines:
            if done.is_set():
                return
            item = (_PROCESS, line) if line else (_QUIET, "")
            while not done.is_set():
                try:
                    items.put(item, timeout=QUIET)
                    break
                except queue.Full:
                    continue
    except Exception:  # a backend that fails mid-follow: the platform's lines go on
        pass
    finally:
        with contextlib.suppress(Exception):
            close = getattr(lines, "close", None)
            if close is not None:
                close()
        with contextlib.suppress(queue.Full):
            items.put_nowait((_END, ""))
