"""The engine kit's log merging: history in time order, bounded lines, a quiet follow that
still yields, and a closed follow that closes its sources."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from empire.scheduler import LogQuery
from empire.scheduler.kit import logs
from empire.scheduler.kit.logs import MAX_LINE, Closer, Line, Source


def source(key: str, history: list[Line], live: list[Line], closed: threading.Event) -> Source:
    def follow(since: float, on_open: Callable[[Closer], None]) -> Iterator[Line]:
        on_open(closed.set)
        yield from live
        closed.wait(30)  # a quiet stream: nothing until it is closed

    return Source(key, key, lambda since, until, lines: list(history), follow)


def test_history_is_merged_in_time_order_and_cut_to_the_last_lines() -> None:
    quiet = threading.Event()
    a = source("a", [((1, 0), "a1"), ((3, 0), "a3")], [], quiet)
    b = source("b", [((2, 0), "b2")], [], quiet)
    assert list(logs.read(lambda: [a, b], LogQuery())) == ["a1", "b2", "a3"]
    assert list(logs.read(lambda: [a, b], LogQuery(lines=2))) == ["b2", "a3"]


def test_a_quiet_follow_yields_empty_lines_and_closing_it_closes_the_sources() -> None:
    closed = threading.Event()
    later = (2**40, 0)  # after the cut-off: a new line
    stream = logs.read(lambda: [source("a", [], [(later, "new")], closed)], LogQuery(follow=True))
    got = [next(stream) for _ in range(3)]
    assert "new" in got and "" in got  # the line, and then quiet
    stream.close()  # type: ignore[attr-defined]
    assert closed.wait(5)


def test_lines_are_cut_and_a_line_without_end_costs_no_memory() -> None:
    chunks = [b"short\n", b"x" * (MAX_LINE + 5), b"y" * 50_000, b"\nafter\n"]
    assert list(logs.split_lines(chunks)) == [b"short", b"x" * MAX_LINE, b"after"]
