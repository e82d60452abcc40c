"""What the per-app metrics view holds: `GET /apps/{app}/metrics`, `emp metrics`, the dashboard.

Plain values only (no Prometheus, no engine): the facade returns an `AppMetrics` and the API
renders it. A summary covers the last `minutes`; the series cover the last hour, one point per
minute, oldest first, None where nothing was measured that minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ProcessSeries:
    """One point per minute of the last hour (None: no sample that minute)."""

    cpu_percent: tuple[float | None, ...] = ()
    memory_bytes: tuple[float | None, ...] = ()
    running: tuple[int | None, ...] = ()
    restarts: tuple[int | None, ...] = ()


@dataclass(frozen=True, slots=True)
class ProcessMetrics:
    """One process type. `cpu_percent` is of one core (100 = a core busy), averaged over the
    window; `memory_bytes` the last sample; `restarts` in the window, `restarts_total` since
    Empire started. None: the engine tells nothing of it (ECS: see the README)."""

    type: str
    running: int | None
    desired: int | None
    cpu_percent: float | None
    memory_bytes: int | None
    restarts: int | None
    restarts_total: int | None
    series: ProcessSeries = field(default_factory=ProcessSeries)


@dataclass(frozen=True, slots=True)
class RouterSeries:
    requests: tuple[int | None, ...] = ()
    p50_ms: tuple[float | None, ...] = ()
    p95_ms: tuple[float | None, ...] = ()
    errors_5xx: tuple[int | None, ...] = ()


@dataclass(frozen=True, slots=True)
class RouterMetrics:
    """The app's public requests through the router over the window (p50/p95 estimated from
    the latency buckets, None without requests)."""

    requests: int
    requests_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    errors_5xx: int
    by_status: dict[str, int]
    series: RouterSeries = field(default_factory=RouterSeries)


@dataclass(frozen=True, slots=True)
class AppMetrics:
    app_id: str
    app: str
    at: datetime
    minutes: int  # the summary's window
    step_seconds: int  # the series' step
    series_start: datetime  # the first point of the series
    processes: tuple[ProcessMetrics, ...]
    router: RouterMetrics
