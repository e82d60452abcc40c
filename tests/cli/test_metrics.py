"""Transcripts: metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from empire.metrics.readers import TasksReader
from empire.metrics.registry import Collector, Metrics
from empire.model import ScaleUpdate
from empire.router.access import RouterRequest
from support.stack import Stack

from .conftest import Emp


def feed(stack: Stack) -> None:
    """Two web instances read from the (fake) engine, and 40 router requests."""
    metrics = stack.api.state.metrics
    assert isinstance(metrics, Metrics)
    stack.empire.scale("acme", [ScaleUpdate("web", 2)], by=stack.user)
    Collector(metrics, TasksReader(stack.scheduler), interval=60).run_once()
    app_id = stack.empire.app("acme", by=stack.user).id
    for n in range(40):
        metrics.observe(
            RouterRequest(
                app_id, "acme", datetime.now(UTC), "GET", "/", "acme.test",
                503 if n == 0 else 200, 10, 1.0, 7.0,
            )
        )  # fmt: skip


def test_metrics(acme: Emp, stack: Stack) -> None:
    feed(stack)
    result = acme("metrics", "-n", "10")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["process", "running", "cpu", "memory", "restarts"]
    assert lines[1].split() == ["web", "2/2", "-", "-", "-"]  # no CPU or memory from fakes
    assert lines[2] == ""
    assert lines[3].startswith("router, last 10 min: 0.07 req/s  p50 ")
    assert lines[3].endswith("  5xx 1")
    assert acme.requests[-1].url.path == "/apps/acme/metrics"
    assert acme.requests[-1].url.query == b"minutes=10"


def test_metrics_json(acme: Emp, stack: Stack) -> None:
    feed(stack)
    result = acme("metrics", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["router"]["requests"] == 40 and data["processes"][0]["running"] == 2


def test_metrics_window_out_of_range(acme: Emp) -> None:
    result = acme("metrics", "-n", "61")
    assert result.code == 2 and "Usage" in result.err + result.out


def test_metrics_with_cpu_memory_and_restarts(acme: Emp, stack: Stack) -> None:
    import time

    from empire.metrics.window import ProcessReading

    metrics = stack.api.state.metrics
    app_id = stack.empire.app("acme", by=stack.user).id
    now = time.time()
    metrics.apps.sample([ProcessReading(app_id, "acme", "web", 1, None, 10.0, 1, 0)], at=now - 10)
    metrics.apps.sample(
        [ProcessReading(app_id, "acme", "web", 1, None, 10.5, 35 * 1024 * 1024 + 1, 2)], at=now
    )
    lines = acme("metrics").out.splitlines()
    assert lines[1].split() == ["web", "1/1", "5.0%", "35.0", "MB", "2"]
    assert lines[3] == "router, last 5 min: 0.00 req/s  p50 -  p95 -  5xx 0"
