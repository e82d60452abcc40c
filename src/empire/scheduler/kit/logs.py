"""An app's log stream from several sources (containers, services): history merged in time
order, then the lines that come, followed until the consumer stops iterating.

A backend describes each source with a `Source`: how to read its history and how to follow
it. `read` cuts the history at one instant, merges it, keeps the last `lines`, then (when
following) streams each source from that instant on, one thread per source feeding a bounded
queue, skipping what the history already gave, picking up sources that appear later (a new
instance, a one-off run), and closing every stream when the consumer stops.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from empire.scheduler import LogQuery
from empire.scheduler.kit.times import Key, timestamp

Line = tuple[Key, str]
Closer = Callable[[], None]
RESCAN = 1.0  # seconds between looks for new sources while following
MAX_LINE = 10_000  # bytes of one line kept (as Heroku's logplex): a longer one is cut
_BUFFER = 10_000  # lines a follow holds for a slow consumer before its sources wait


@dataclass(frozen=True, slots=True)
class Source:
    """One stream of log lines, already formatted as `<time> <app>[<slot>]: <text>`.

    `history(since, until, lines)` returns the lines between two instants (unix seconds; None:
    unbounded), at most the last `lines`; `follow(since, on_open)` yields lines from `since`
    on until its stream is closed, first handing `on_open` a function that closes the stream
    from another thread.
    """

    key: str
    name: str
    history: Callable[[float | None, float | None, int | None], list[Line]]
    follow: Callable[[float, Callable[[Closer], None]], Iterator[Line]]


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a byte stream, without their newline; a line longer than MAX_LINE is cut
    (the rest of it dropped), so a process that never prints a newline costs no memory."""
    buffer = b""
    skipping = False
    for chunk in chunks:
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > MAX_LINE:
                    if not skipping:
                        yield buffer[:MAX_LINE]
                    skipping = True
                    buffer = b""
                break
            if not skipping:
                yield buffer[:end][:MAX_LINE]
            skipping = False
            buffer = buffer[end + 1 :]
    if buffer and not skipping:
        yield buffer[:MAX_LINE]


def read(sources: Callable[[], list[Source]], query: LogQuery) -> Iterator[str]:
    """Yield the lines: history first (in time order), then new ones if following."""
    cutoff = time.time()
    since = timestamp(query.since)
    floor = (int(cutoff), round((cutoff % 1) * 1e9))
    history: list[Line] = []
    floors: dict[str, Key] = {}
    for source in sources():
        lines = source.history(since, cutoff if query.follow else None, query.lines)
        floors[source.key] = max([floor, *(key for key, _ in lines)])
        history.extend(lines)
    history.sort(key=lambda item: item[0])
    if query.lines is not None:
        history = history[-query.lines :] if query.lines > 0 else []
    for _, line in history:
        yield line
    if query.follow:
        yield from _follow(sources, max(cutoff, since or 0.0), floors, floor)


def _follow(
    sources: Callable[[], list[Source]], cutoff: float, floors: dict[str, Key], floor: Key
) -> Iterator[str]:
    lines: queue.Queue[str] = queue.Queue(_BUFFER)
    followed: set[str] = set()
    closers: list[Closer] = []
    done = threading.Event()
    last_scan = 0.0

    def register(close: Closer) -> None:
        closers.append(close)
        if done.is_set():  # the consumer left while this stream was opening
            with contextlib.suppress(Exception):
                close()

    try:
        while True:
            if time.monotonic() - last_scan >= RESCAN:
                for source in sources():
                    if source.key in followed:
                        continue
                    followed.add(source.key)
                    threading.Thread(
                        target=_pump,
                        args=(source, cutoff, floors.get(source.key, floor), lines, register, done),
                        name=f"empire-logs-{source.name}",
                        daemon=True,
                    ).start()
                last_scan = time.monotonic()
            try:
                yield lines.get(timeout=RESCAN)
            except queue.Empty:
                yield ""  # quiet: the consumer may stop here (see Scheduler.logs)
    finally:
        done.set()
        for close in list(closers):
            with contextlib.suppress(Exception):
                close()


def _pump(
    source: Source,
    cutoff: float,
    floor: Key,
    lines: queue.Queue[str],
    register: Callable[[Closer], None],
    done: threading.Event,
) -> None:
    """Feed one source's followed lines to the queue until its stream ends or is closed."""
    with contextlib.suppress(Exception):  # a closed stream ends the thread, whatever it raises
        for key, line in source.follow(cutoff, register):
            if key <= floor:
                continue
            while not done.is_set():
                try:
                    lines.put(line, timeout=RESCAN)
                    break
                except queue.Full:
                    continue
            if done.is_set():
                return
