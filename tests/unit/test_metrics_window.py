"""The per-app figures kept in memory: router requests, engine rounds, the last hour."""

from __future__ import annotations

import pytest

from empire.metrics.window import (
    BOUNDS,
    MAX_PROCESSES,
    NB,
    SLOTS,
    AppStats,
    ProcessReading,
    quantile,
    status_class,
)


class Clock:
    def __init__(self, at: float = 1_800_000_000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_status_classes() -> None:
    assert [status_class(s) for s in (101, 200, 302, 404, 503)] == [
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
    ]
    assert status_class(0) == status_class(999) == "5xx"


def test_quantile_interpolates_within_the_bucket() -> None:
    counts = [0] * NB
    counts[BOUNDS.index(0.1)] = 10  # all ten in (0.05, 0.1]
    assert quantile(0.5, counts) == pytest.approx(0.075)
    assert quantile(0.95, counts) == pytest.approx(0.0975)
    assert quantile(0.5, [0] * NB) is None
    counts = [0] * NB
    counts[-1] = 3  # beyond the last bound: reported as that bound
    assert quantile(0.5, counts) == BOUNDS[-1]


def test_router_requests_make_the_window_and_the_totals() -> None:
    clock = Clock()
    stats = AppStats(now=clock)
    for _ in range(90):
        stats.request("a1", "acme", 200, 0.02)
    for _ in range(10):
        stats.request("a1", "acme", 503, 2.0)
    view = stats.view("a1", "acme", 5)
    assert view.router.requests == 100
    assert view.router.errors_5xx == 10
    assert view.router.by_status == {"2xx": 90, "5xx": 10}
    assert view.router.requests_per_second == pytest.approx(100 / 300, abs=1e-3)
    assert view.router.p50_ms is not None and 10 < view.router.p50_ms <= 25
    assert view.router.p95_ms is not None and 1000 < view.router.p95_ms <= 2500
    assert len(view.router.series.requests) == SLOTS
    assert view.router.series.requests[-1] == 100
    assert view.router.series.requests[0] is None  # nothing an hour ago
    _, routers = stats.totals()
    assert routers[0].app == "acme" and routers[0].count == 100
    assert routers[0].by_class == (0, 90, 0, 0, 10)


def test_minutes_roll_over_and_old_minutes_leave_the_window() -> None:
    clock = Clock()
    stats = AppStats(now=clock)
    stats.request("a1", "acme", 200, 0.01)
    clock.at += 120
    stats.request("a1", "acme", 500, 0.01)
    assert stats.view("a1", "acme", 1).router.requests == 1
    assert stats.view("a1", "acme", 5).router.requests == 2
    series = stats.view("a1", "acme", 5).router.series.requests
    assert series[-3:] == (1, None, 1)
    clock.at += SLOTS * 60  # an hour later: nothing left in the window, totals stay
    view = stats.view("a1", "acme", 60)
    assert view.router.requests == 0 and set(view.router.series.requests) == {None}
    assert stats.totals()[1][0].count == 2
    # A slot reused an hour later starts empty.
    stats.request("a1", "acme", 200, 0.01)
    assert stats.view("a1", "acme", 1).router.requests == 1


def test_engine_rounds_give_cpu_percent_memory_and_restarts() -> None:
    clock = Clock()
    stats = AppStats(now=clock)
    stats.know("a1", "acme", {"web": 2, "worker": 1})
    stats.sample([ProcessReading("a1", "acme", "web", 2, None, 10.0, 100, 0)], at=clock.at)
    clock.at += 15
    stats.sample([ProcessReading("a1", "acme", "web", 2, None, 13.0, 200, 1)], at=clock.at)
    view = stats.view("a1", "acme", 5)
    web, worker = view.processes
    assert (web.type, web.running, web.desired) == ("web", 2, 2)
    assert web.cpu_percent == pytest.approx(20.0)  # 3 s of CPU in 15 s
    assert web.memory_bytes == 200
    assert (web.restarts, web.restarts_total) == (1, 1)
    # A known process type a round does not mention runs nothing.
    assert (worker.type, worker.running, worker.desired) == ("worker", 0, 1)
    processes, _ = stats.totals()
    assert {(p.process, p.cpu_seconds) for p in processes} == {("web", 13.0), ("worker", None)}


def test_unknown_apps_make_no_series_and_forgotten_apps_go() -> None:
    stats = AppStats(now=Clock())
    stats.sample([ProcessReading("ghost", "ghost", "web", 1)])
    assert stats.totals() == ([], [])
    stats.know("a1", "acme", {"web": 1})
    stats.know("a2", "blog", {"web": 1})
    stats.request("a2", "blog", 200, 0.1)
    stats.keep_only(["a1"])
    assert stats.known() == {"a1": "acme"}
    stats.forget("a1")
    assert stats.known() == {}


def test_renames_and_removed_process_types_follow_the_manifest() -> None:
    stats = AppStats(now=Clock())
    stats.know("a1", "acme", {"web": 1, "worker": 1})
    stats.know("a1", "acme-inc", {"web": 3})
    processes, _ = stats.totals()
    assert [(p.app, p.process, p.desired) for p in processes] == [("acme-inc", "web", 3)]


def test_bounded_apps_and_process_types() -> None:
    stats = AppStats(now=Clock(), max_apps=2)
    for n in range(5):
        stats.request(f"a{n}", f"app{n}", 200, 0.01)
    assert len(stats.known()) == 2
    stats.know("a0", "app0", {})
    stats.sample(ProcessReading("a0", "app0", f"p{n}", 1) for n in range(MAX_PROCESSES + 50))
    assert len(stats.totals()[0]) == MAX_PROCESSES


def test_an_app_without_traffic_has_a_full_empty_hour() -> None:
    stats = AppStats(now=Clock())
    stats.know("a1", "acme", {"web": 1})
    router = stats.view("a1", "acme", 5).router
    assert (router.requests, router.p50_ms, router.by_status) == (0, None, {})
    assert router.series.requests == (None,) * SLOTS
    assert router.series.p95_ms == (None,) * SLOTS
