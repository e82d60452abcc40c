"""Per-app figures kept in memory: totals since start, and the last hour minute by minute.

`AppStats` is the one place the per-app series live. Writers: the scheduler wrapper (what
each app should run, `know`), the engine collector (what runs, its CPU, memory and restarts,
`sample`), the router's request listener (`request`). Readers: the `/metrics` exposition
(totals) and the per-app view (`view`). Everything is bounded: at most `max_apps` apps, 60
one-minute slots each, process types as the Procfile has them; an app Empire no longer runs
is forgotten (`forget`, `keep_only`).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from empire.metrics.view import (
    AppMetrics,
    ProcessMetrics,
    ProcessSeries,
    RouterMetrics,
    RouterSeries,
)

SLOTS = 60  # one-minute slots: the last hour
STEP = 60
# Latency bucket bounds (seconds) of the router's histogram; one more bucket for the rest.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
NB = len(BOUNDS) + 1
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
MAX_APPS = 10_000
MAX_PROCESSES = 100  # process types of one app


def status_class(status: int) -> str:
    """`2xx` for 200..299, and so on; anything outside 100..599 counts as `5xx`."""
    return f"{status // 100}xx" if 100 <= status < 600 else "5xx"


def quantile(q: float, counts: Iterable[int]) -> float | None:
    """The q-quantile (seconds) of a histogram given as per-bucket counts over BOUNDS (+Inf
    last), interpolated within its bucket as Prometheus' histogram_quantile does; a value in
    the last bucket is reported as its lower bound. None when the histogram is empty."""
    counts = list(counts)
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index == len(BOUNDS):
                return BOUNDS[-1]
            lower = BOUNDS[index - 1] if index else 0.0
            return lower + (BOUNDS[index] - lower) * ((rank - seen) / count)
        seen += count
    return BOUNDS[-1]


@dataclass(frozen=True, slots=True)
class ProcessReading:
    """One process type as the engine reports it in one round. `cpu_seconds` and `restarts`
    are cumulative (the reader keeps them monotonic); None: the engine does not say."""

    app_id: str
    app: str
    process: str
    running: int
    desired: int | None = None
    cpu_seconds: float | None = None
    memory_bytes: int | None = None
    restarts: int | None = None


class _Ring:
    """Per-minute slots: `stamp[i]` is the minute slot i holds (-1: none)."""

    __slots__ = ("stamp",)

    def __init__(self) -> None:
        self.stamp = array("q", [-1] * SLOTS)

    def slot(self, minute: int) -> tuple[int, bool]:
        """The slot of `minute`, and whether it was just cleared for it."""
        index = minute % SLOTS
        if self.stamp[index] == minute:
            return index, False
        self.stamp[index] = minute
        return index, True


class _Process(_Ring):
    __slots__ = (
        "cpu_pct",
        "cpu_samples",
        "cpu_seconds",
        "desired",
        "last_cpu",
        "last_round",
        "memory",
        "memory_now",
        "restarts",
        "restarts_total",
        "running",
        "running_now",
    )

    def __init__(self) -> None:
        super().__init__()
        self.cpu_pct = array("d", [0.0] * SLOTS)
        self.cpu_samples = array("H", [0] * SLOTS)
        self.memory = array("d", [math.nan] * SLOTS)
        self.running = array("h", [-1] * SLOTS)
        self.restarts = array("I", [0] * SLOTS)
        self.desired: int | None = None
        self.running_now: int | None = None
        self.memory_now: int | None = None
        self.cpu_seconds: float | None = None
        self.restarts_total: int | None = None
        self.last_cpu: float | None = None
        self.last_round: float | None = None

    def clear(self, index: int) -> None:
        self.cpu_pct[index] = 0.0
        self.cpu_samples[index] = 0
        self.memory[index] = math.nan
        self.running[index] = -1
        self.restarts[index] = 0


class _Router(_Ring):
    __slots__ = ("buckets", "by_class", "count", "minute_buckets", "minute_classes", "sum")

    def __init__(self) -> None:
        super().__init__()
        self.buckets = array("Q", [0] * NB)  # totals since start
        self.by_class = array("Q", [0] * len(CLASSES))
        self.sum = 0.0
        self.count = 0
        self.minute_buckets = array("I", [0] * (SLOTS * NB))
        self.minute_classes = array("I", [0] * (SLOTS * len(CLASSES)))

    def clear(self, index: int) -> None:
        for i in range(index * NB, index * NB + NB):
            self.minute_buckets[i] = 0
        for i in range(index * len(CLASSES), (index + 1) * len(CLASSES)):
            self.minute_classes[i] = 0


@dataclass(slots=True)
class _App:
    name: str
    processes: dict[str, _Process] = field(default_factory=dict)
    router: _Router | None = None


@dataclass(frozen=True, slots=True)
class ProcessTotals:
    """One process type's figures for the exposition."""

    app: str
    process: str
    running: int | None
    desired: int | None
    cpu_seconds: float | None
    memory_bytes: int | None
    restarts: int | None


@dataclass(frozen=True, slots=True)
class RouterTotals:
    app: str
    by_class: tuple[int, ...]
    buckets: tuple[int, ...]  # per bucket (not cumulative), +Inf last
    sum: float
    count: int


class AppStats:
    """The per-app figures (see the module). Thread-safe; every call is short."""

    def __init__(self, *, now: Callable[[], float] = time.time, max_apps: int = MAX_APPS) -> None:
        self._now = now
        self._max_apps = max_apps
        self._apps: dict[str, _App] = {}
        self._lock = threading.Lock()

    def _minute(self) -> int:
        return int(self._now() // STEP)

    def _app(self, app_id: str, name: str) -> _App | None:
        entry = self._apps.get(app_id)
        if entry is None:
            if len(self._apps) >= self._max_apps:
                return None
            entry = self._apps[app_id] = _App(name)
        elif name and entry.name != name:
            entry.name = name  # renamed
        return entry

    # -- writers ------------------------------------------------------------------------------

    def know(self, app_id: str, name: str, desired: dict[str, int]) -> None:
        """The app runs these process types, this many instances each (what was submitted)."""
        with self._lock:
            entry = self._app(app_id, name)
            if entry is None:
                return
            for process in [p for p in entry.processes if p not in desired]:
                del entry.processes[process]  # no longer in the Procfile
            for process, quantity in desired.items():
                entry.processes.setdefault(process, _Process()).desired = quantity

    def known(self) -> dict[str, str]:
        """The apps known, id -> name."""
        with self._lock:
            return {app_id: entry.name for app_id, entry in self._apps.items()}

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._apps.pop(app_id, None)

    def keep_only(self, app_ids: Iterable[str]) -> None:
        keep = set(app_ids)
        with self._lock:
            for app_id in [a for a in self._apps if a not in keep]:
                del self._apps[app_id]

    def request(self, app_id: str, app: str, status: int, seconds: float) -> None:
        """One request the router answered for the app."""
        minute = self._minute()
        bucket = bisect.bisect_left(BOUNDS, seconds)
        klass = CLASSES.index(status_class(status))
        with self._lock:
            entry = self._app(app_id, app)
            if entry is None:
                return
            router = entry.router
            if router is None:
                router = entry.router = _Router()
            index, fresh = router.slot(minute)
            if fresh:
                router.clear(index)
            router.buckets[bucket] += 1
            router.by_class[klass] += 1
            router.sum += seconds
            router.count += 1
            router.minute_buckets[index * NB + bucket] += 1
            router.minute_classes[index * len(CLASSES) + klass] += 1

    def sample(self, readings: Iterable[ProcessReading], at: float | None = None) -> None:
        """One round of the engine collector: what runs now, per app and process type. Only
        apps already known (`know`) are kept: an engine's leftovers make no series. A known
        process type the round does not mention runs no instance."""
        now = self._now() if at is None else at
        minute = int(now // STEP)
        with self._lock:
            touched: set[tuple[str, str]] = set()
            for reading in readings:
                entry = self._apps.get(reading.app_id)
                if entry is None:
                    continue
                process = entry.processes.get(reading.process)
                if process is None:
                    if len(entry.processes) >= MAX_PROCESSES:
                        continue
                    process = entry.processes[reading.process] = _Process()
                _record(process, reading, now, minute)
                touched.add((reading.app_id, reading.process))
            for app_id, entry in self._apps.items():
                for name, process in entry.processes.items():
                    if (app_id, name) not in touched:
                        _record(process, ProcessReading(app_id, entry.name, name, 0), now, minute)

    # -- readers ------------------------------------------------------------------------------

    def totals(self) -> tuple[list[ProcessTotals], list[RouterTotals]]:
        """Every app's figures since start, for the exposition."""
        processes: list[ProcessTotals] = []
        routers: list[RouterTotals] = []
        with self._lock:
            for entry in self._apps.values():
                for name, p in entry.processes.items():
                    processes.append(
                        ProcessTotals(
                            entry.name,
                            name,
                            p.running_now,
                            p.desired,
                            p.cpu_seconds,
                            p.memory_now,
                            p.restarts_total,
                        )
                    )
                r = entry.router
                if r is not None:
                    routers.append(
                        RouterTotals(
                            entry.name, tuple(r.by_class), tuple(r.buckets), r.sum, r.count
                        )
                    )
        return processes, routers

    def view(self, app_id: str, name: str, minutes: int) -> AppMetrics:
        """The app's summary over the last `minutes` (1..60) and its last hour."""
        now = self._now()
        current = int(now // STEP)
        first = current - SLOTS + 1
        window = range(current - minutes + 1, current + 1)
        with self._lock:
            entry = self._apps.get(app_id)
            processes = (
                tuple(
                    _process_view(process_name, p, first, current, window)
                    for process_name, p in sorted(entry.processes.items())
                )
                if entry is not None
                else ()
            )
            router = (
                _router_view(entry.router, first, current, window, minutes)
                if entry is not None and entry.router is not None
                else RouterMetrics(0, 0.0, None, None, 0, {}, _NO_TRAFFIC)
            )
        return AppMetrics(
            app_id=app_id,
            app=name,
            at=datetime.fromtimestamp(now, UTC),
            minutes=minutes,
            step_seconds=STEP,
            series_start=datetime.fromtimestamp(first * STEP, UTC),
            processes=processes,
            router=router,
        )


_NO_TRAFFIC = RouterSeries(*(((None,) * SLOTS,) * 4))


def _record(process: _Process, reading: ProcessReading, now: float, minute: int) -> None:
    index, fresh = process.slot(minute)
    if fresh:
        process.clear(index)
    process.running_now = reading.running
    process.running[index] = min(reading.running, 32767)
    if reading.desired is not None:
        process.desired = reading.desired
    if reading.memory_bytes is not None:
        process.memory_now = reading.memory_bytes
        process.memory[index] = float(reading.memory_bytes)
    if reading.restarts is not None:
        before = process.restarts_total
        if before is not None and reading.restarts > before:
            process.restarts[index] += reading.restarts - before
        process.restarts_total = reading.restarts
    if reading.cpu_seconds is not None:
        last, when = process.last_cpu, process.last_round
        if last is not None and when is not None and now > when:
            used = max(0.0, reading.cpu_seconds - last)
            process.cpu_pct[index] += 100.0 * used / (now - when)
            process.cpu_samples[index] += 1
        process.cpu_seconds = reading.cpu_seconds
        process.last_cpu, process.last_round = reading.cpu_seconds, now


def _points(ring: _Ring, first: int, current: int) -> list[int | None]:
    """The slot index of each minute from `first` to `current`, None where it holds none."""
    out: list[int | None] = []
    for minute in range(first, current + 1):
        index = minute % SLOTS
        out.append(index if ring.stamp[index] == minute else None)
    return out


def _process_view(
    name: str, p: _Process, first: int, current: int, window: range
) -> ProcessMetrics:
    slots = _points(p, first, current)
    cpu = tuple(
        None if i is None or not p.cpu_samples[i] else p.cpu_pct[i] / p.cpu_samples[i]
        for i in slots
    )
    memory = tuple(None if i is None or math.isnan(p.memory[i]) else p.memory[i] for i in slots)
    running = tuple(None if i is None or p.running[i] < 0 else int(p.running[i]) for i in slots)
    restarts = tuple(None if i is None else int(p.restarts[i]) for i in slots)
    recent = slots[-len(window) :]
    cpu_recent = [
        (p.cpu_pct[i], p.cpu_samples[i]) for i in recent if i is not None and p.cpu_samples[i]
    ]
    cpu_avg = (
        sum(total for total, _ in cpu_recent) / sum(n for _, n in cpu_recent)
        if cpu_recent
        else None
    )
    return ProcessMetrics(
        type=name,
        running=p.running_now,
        desired=p.desired,
        cpu_percent=None if cpu_avg is None else round(cpu_avg, 2),
        memory_bytes=p.memory_now,
        restarts=None
        if p.restarts_total is None
        else sum(int(p.restarts[i]) for i in recent if i is not None),
        restarts_total=p.restarts_total,
        series=ProcessSeries(cpu, memory, running, restarts),
    )


def _router_view(
    r: _Router, first: int, current: int, window: range, minutes: int
) -> RouterMetrics:
    slots = _points(r, first, current)
    n = len(CLASSES)

    def buckets(index: int) -> list[int]:
        return list(r.minute_buckets[index * NB : index * NB + NB])

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    requests = tuple(None if i is None else sum(buckets(i)) for i in slots)
    p50 = tuple(None if i is None else ms(quantile(0.5, buckets(i))) for i in slots)
    p95 = tuple(None if i is None else ms(quantile(0.95, buckets(i))) for i in slots)
    errors = tuple(None if i is None else int(r.minute_classes[i * n + 4]) for i in slots)
    recent = [i for i in slots[-len(window) :] if i is not None]
    merged = [0] * NB
    classes = [0] * n
    for i in recent:
        for b in range(NB):
            merged[b] += r.minute_buckets[i * NB + b]
        for c in range(n):
            classes[c] += r.minute_classes[i * n + c]
    total = sum(merged)
    return RouterMetrics(
        requests=total,
        requests_per_second=round(total / (minutes * STEP), 3),
        p50_ms=ms(quantile(0.5, merged)),
        p95_ms=ms(quantile(0.95, merged)),
        errors_5xx=classes[4],
        by_status={CLASSES[c]: classes[c] for c in range(n) if classes[c]},
        series=RouterSeries(requests, p50, p95, errors),
    )
