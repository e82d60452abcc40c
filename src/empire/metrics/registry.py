"""Empire's metrics: one Prometheus registry of its own (never the library's global one, so
two Empires in one process, as in tests, never share a series), and what feeds it.

Series (labels are bounded: route template, status class, app, process, and small fixed sets):

- `empire_api_request_duration_seconds{route,status}`: API requests by route template (`GET
  /apps/{app}`, never a raw path) and status class, to the response's first byte (a log
  follow or a deploy stream does not count its whole life); `_count` is the request count.
- `empire_rollouts_total{trigger,outcome}`, `empire_rollout_duration_seconds{trigger}`,
  `empire_release_phase_duration_seconds{outcome}`, `empire_releases_total{kind,outcome}`.
- `empire_reconciler_rounds_total`, `empire_reconciler_round_duration_seconds`.
- `empire_router_reloads_total`: configurations the router's Caddy loaded.
- `empire_webhook_backlog`, `empire_drain_backlog`: deliveries and log lines waiting.
- Per app and process type: `empire_process_running`, `_desired`, `_cpu_seconds_total`,
  `_memory_bytes`, `_restarts_total`. Per app from the router:
  `empire_router_requests_total{app,status}`, `empire_router_request_duration_seconds{app}`.

A scrape renders what is in memory: the engine is read by the `Collector`'s one thread every
`interval` seconds (as are the backlogs, which cost a query), never by a scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector as PrometheusCollector

from empire.metrics.readers import Reader
from empire.metrics.scheduler import ReleaseKinds, as_reconciler
from empire.metrics.window import BOUNDS, CLASSES, AppStats, status_class
from empire.periodic import Periodic
from empire.router.access import RouterRequest

log = logging.getLogger("empire.metrics")
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LONG_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
UNROUTED = "other"  # the route of a request no route took (401 before routing, 404)


class Metrics:
    """The registry and its writers. `render()` is the `/metrics` body."""

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.apps = AppStats(now=now)
        self.kinds = ReleaseKinds()  # an event sink: what made each app's newest release
        self.api = Histogram(
            "empire_api_request_duration_seconds",
            "API requests by route template and status class: seconds to the first byte",
            ["route", "status"],
            buckets=API_BUCKETS,
            registry=self.registry,
        )
        self.rollouts = Counter(
            "empire_rollouts",
            "Rollouts (scheduler submits) by who asked and their verdict",
            ["trigger", "outcome"],
            registry=self.registry,
        )
        self.rollout_seconds = Histogram(
            "empire_rollout_duration_seconds",
            "How long rollouts took, by who asked",
            ["trigger"],
            buckets=LONG_BUCKETS,
            registry=self.registry,
        )
        self.release_phase = Histogram(
            "empire_release_phase_duration_seconds",
            "How long release phases ran, by how they ended",
            ["outcome"],
            buckets=LONG_BUCKETS,
            registry=self.registry,
        )
        self.releases = Counter(
            "empire_releases",
            "Releases by what made them (deploy, rollback, config) and their first verdict",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.reconciler_rounds = Counter(
            "empire_reconciler_rounds", "Reconciler rounds run", registry=self.registry
        )
        self.reconciler_seconds = Histogram(
            "empire_reconciler_round_duration_seconds",
            "How long reconciler rounds took",
            buckets=LONG_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], Any] = {}
        self._router: Any = None
        self._backlogs: dict[str, Callable[[], int]] = {}
        self._backlog_values: dict[str, int] = {}
        self.collect_errors = 0
        self.registry.register(_Exposition(self))

    # -- writers ------------------------------------------------------------------------------

    def observe_api(self, route: str, status: int, seconds: float) -> None:
        """One API request (the middleware's hot path: one dict lookup, one observe)."""
        key = (route, status_class(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.api.labels(*key)
        child.observe(seconds)

    def rollout(self, trigger: str, outcome: str, seconds: float) -> None:
        self.rollouts.labels(trigger, outcome).inc()
        self.rollout_seconds.labels(trigger).observe(seconds)

    def observe(self, request: RouterRequest) -> None:
        """A `RequestListener`: one public request the router answered (never blocks)."""
        seconds = max(0.0, request.connect_ms + request.service_ms) / 1000.0
        self.apps.request(request.app_id, request.app, request.status, seconds)

    # -- sources ------------------------------------------------------------------------------

    def watch_reconciler(self, reconciler: Any) -> None:
        """Count and time the reconciler's rounds, and mark their rollouts as its own: wraps
        `reconciler.run_once` (before `start`), and `run_apps` (the apps the engine's events
        named: their rollouts are the reconciler's too, not counted as rounds)."""
        run_once = as_reconciler(reconciler.run_once)
        if hasattr(reconciler, "run_apps"):
            reconciler.run_apps = as_reconciler(reconciler.run_apps)

        def measured() -> None:
            started = time.monotonic()
            try:
                run_once()
            finally:
                self.reconciler_rounds.inc()
                self.reconciler_seconds.observe(time.monotonic() - started)

        reconciler.run_once = measured

    def watch_router(self, router: Any) -> None:
        """Report the router's configuration loads (its `loads` count, when it keeps one)."""
        self._router = router

    def backlog(self, name: str, source: Callable[[], int]) -> None:
        """Report `source()` as `empire_<name>_backlog`, read by the collector's thread
        (`webhook`: deliveries pending; `drain`: log lines waiting in the drains' buffers)."""
        self._backlogs[name] = source
        self._backlog_values.setdefault(name, 0)

    def read_backlogs(self) -> None:
        for name, source in list(self._backlogs.items()):
            try:
                self._backlog_values[name] = int(source())
            except Exception:
                log.exception("metrics: reading the %s backlog", name)

    # -- the exposition -----------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)

    def _families(self) -> Iterator[Metric]:
        processes, routers = self.apps.totals()
        running = GaugeMetricFamily(
            "empire_process_running", "Instances running", labels=["app", "process"]
        )
        wanted = GaugeMetricFamily(
            "empire_process_desired", "Instances asked for", labels=["app", "process"]
        )
        cpu = CounterMetricFamily(
            "empire_process_cpu_seconds", "CPU time used", labels=["app", "process"]
        )
        memory = GaugeMetricFamily(
            "empire_process_memory_bytes", "Memory in use", labels=["app", "process"]
        )
        restarts = CounterMetricFamily(
            "empire_process_restarts", "Instances restarted", labels=["app", "process"]
        )
        for p in processes:
            key = [p.app, p.process]
            if p.running is not None:
                running.add_metric(key, p.running)
            if p.desired is not None:
                wanted.add_metric(key, p.desired)
            if p.cpu_seconds is not None:
                cpu.add_metric(key, p.cpu_seconds)
            if p.memory_bytes is not None:
                memory.add_metric(key, p.memory_bytes)
            if p.restarts is not None:
                restarts.add_metric(key, p.restarts)
        yield from (running, wanted, cpu, memory, restarts)
        requests = CounterMetricFamily(
            "empire_router_requests",
            "Public requests the router answered, by status class",
            labels=["app", "status"],
        )
        latency = HistogramMetricFamily(
            "empire_router_request_duration_seconds",
            "Public requests' time in the router (connect + service)",
            labels=["app"],
        )
        for r in routers:
            for klass, count in zip(CLASSES, r.by_class, strict=True):
                if count:
                    requests.add_metric([r.app, klass], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*BOUNDS, float("inf")), r.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([r.app], buckets, r.sum)
        yield from (requests, latency)
        loads = getattr(self._router, "loads", None)
        if isinstance(loads, int):
            yield CounterMetricFamily(
                "empire_router_reloads", "Configurations the router loaded", value=loads
            )
        for name, value in sorted(self._backlog_values.items()):
            yield GaugeMetricFamily(f"empire_{name}_backlog", _BACKLOGS.get(name, ""), value=value)
        yield CounterMetricFamily(
            "empire_metrics_collect_errors",
            "Engine collector rounds that failed",
            value=self.collect_errors,
        )


_BACKLOGS = {
    "webhook": "Webhook deliveries pending",
    "drain": "Log lines waiting in the log drains' buffers",
}


class _Exposition(PrometheusCollector):
    """The series computed at scrape from what is in memory."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics._families()


class Collector:
    """Reads the engine (and the backlogs) every `interval` seconds in one daemon thread."""

    def __init__(self, metrics: Metrics, reader: Reader | None, interval: float) -> None:
        self.metrics = metrics
        self.reader = reader
        self._periodic = Periodic("empire-metrics", interval, self.run_once)
        self._lock = threading.Lock()

    def run_once(self) -> None:
        with self._lock:
            if self.reader is not None:
                try:
                    readings = self.reader.read(self.metrics.apps.known())
                except Exception as exc:
                    self.metrics.collect_errors += 1
                    log.warning("metrics: reading the engine failed: %s", exc)
                else:
                    self.metrics.apps.sample(readings)
            self.metrics.read_backlogs()

    def start(self) -> None:
        self._periodic.start()

    def close(self) -> None:
        self._periodic.close()
