"""What the facade's work adds to the metrics: releases by kind and outcome, rollouts, release
phases, the reconciler's rounds, and what each app should run (`MeteredScheduler`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from empire.errors import NotFound, NotSupported
from empire.metrics.readers import TasksReader
from empire.metrics.registry import Collector, Metrics
from empire.metrics.scheduler import MeteredScheduler
from empire.model import Outcome, Role, ScaleUpdate
from empire.reconciler import Reconciler
from empire.scheduler import Verdict
from support.stack import Stack

BROKEN = b"web: ./bin/web\nrelease: sh -c 'echo step 1; exit 3'\n"


def metrics_of(stack: Stack) -> Metrics:
    metrics = stack.api.state.metrics
    assert isinstance(metrics, Metrics)
    assert isinstance(stack.empire.scheduler, MeteredScheduler)
    return metrics


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_releases_are_counted_once_by_kind_and_first_verdict(stack: Stack) -> None:
    metrics = metrics_of(stack)
    e, alice = stack.empire, stack.user
    e.deploy("acme/acme-inc:v1", by=alice)
    e.set_config("acme-inc", {"A": "1"}, by=alice)
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web never became healthy"))
    e.deploy("acme/acme-inc:v2", by=alice)
    e.rollback("acme-inc", "1", by=alice)
    e.scale("acme-inc", [ScaleUpdate("web", 3)], by=alice)  # no release: a rollout only
    releases = "empire_releases_total"
    assert value(metrics, releases, kind="deploy", outcome="succeeded") == 1
    assert value(metrics, releases, kind="deploy", outcome="rolled_back") == 1
    assert value(metrics, releases, kind="config", outcome="succeeded") == 1
    assert value(metrics, releases, kind="rollback", outcome="succeeded") == 1
    rollouts = "empire_rollouts_total"
    assert value(metrics, rollouts, trigger="api", outcome="succeeded") == 4
    assert value(metrics, rollouts, trigger="api", outcome="rolled_back") == 1
    assert value(metrics, "empire_rollout_duration_seconds_count", trigger="api") == 5
    # What the app should run now, from the last manifest.
    processes, _ = metrics.apps.totals()
    assert [(p.app, p.process, p.desired) for p in processes] == [("acme-inc", "web", 3)]


def test_a_failed_release_phase_counts_the_release_failed(stack: Stack) -> None:
    metrics = metrics_of(stack)
    stack.images.add("acme/acme-inc:v1", procfile=BROKEN)
    release = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    assert release.outcome is Outcome.FAILED
    assert value(metrics, "empire_releases_total", kind="deploy", outcome="failed") == 1
    phase = "empire_release_phase_duration_seconds_count"
    assert value(metrics, phase, outcome="failed") == 1
    assert value(metrics, "empire_rollouts_total", trigger="api", outcome="succeeded") == 0


def test_reconciler_rounds_are_counted_and_their_rollouts_are_its_own(stack: Stack) -> None:
    metrics = metrics_of(stack)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    reconciler = Reconciler(stack.empire, 60)
    metrics.watch_reconciler(reconciler)
    reconciler.run_once()
    reconciler.run_once()
    assert value(metrics, "empire_reconciler_rounds_total") == 2
    assert value(metrics, "empire_reconciler_round_duration_seconds_count") == 2
    assert value(metrics, "empire_rollouts_total", trigger="reconciler", outcome="succeeded") == 2
    # A release the reconciler is the first to see (Empire just started) is not counted.
    assert value(metrics, "empire_releases_total", kind="deploy", outcome="succeeded") == 1
    # The apps the engine's events name converge as the reconciler's too, not as rounds.
    app = stack.empire.app("acme-inc", by=stack.user)
    reconciler.run_apps({app.id})
    assert value(metrics, "empire_rollouts_total", trigger="reconciler", outcome="succeeded") == 3
    assert value(metrics, "empire_rollouts_total", trigger="api", outcome="succeeded") == 1
    assert value(metrics, "empire_reconciler_rounds_total") == 2


def test_a_restarted_empire_does_not_count_old_releases(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    fresh = Metrics()
    scheduler = MeteredScheduler(stack.scheduler, fresh)
    stack.empire.scheduler = scheduler
    reconciler = Reconciler(stack.empire, 60)
    fresh.watch_reconciler(reconciler)
    reconciler.run_once()
    assert value(fresh, "empire_releases_total", kind="other", outcome="succeeded") == 0
    assert fresh.apps.known() == {stack.empire.app("acme-inc", by=stack.user).id: "acme-inc"}


def test_destroyed_apps_leave_the_series(stack: Stack) -> None:
    metrics = metrics_of(stack)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    assert metrics.apps.known()
    stack.empire.destroy("acme-inc", by=stack.user)
    assert metrics.apps.known() == {}
    assert b"acme-inc" not in metrics.render()


def test_the_collector_reads_the_fake_engine_into_the_app_view(stack: Stack) -> None:
    metrics = metrics_of(stack)
    e, alice = stack.empire, stack.user
    e.deploy("acme/acme-inc:v1", by=alice)
    e.scale("acme-inc", [ScaleUpdate("web", 2)], by=alice)
    collector = Collector(metrics, TasksReader(stack.scheduler), interval=60)
    collector.run_once()
    view = e.app_metrics("acme-inc", by=alice, minutes=5)
    (web,) = view.processes
    assert (web.type, web.running, web.desired) == ("web", 2, 2)
    assert web.series.running[-1] == 2
    text = metrics.render().decode()
    assert 'empire_process_running{app="acme-inc",process="web"} 2.0' in text
    assert 'empire_process_desired{app="acme-inc",process="web"} 2.0' in text


def test_the_app_view_needs_the_viewer_role(stack: Stack) -> None:
    e, alice = stack.empire, stack.user
    e.deploy("acme/acme-inc:v1", by=alice)
    e.deploy("acme/blog:v1", by=alice)
    bob, _ = e.create_user("bob")
    e.grant("blog", "bob", Role.VIEWER.value, by=alice)
    assert e.app_metrics("blog", by=bob).app == "blog"
    with pytest.raises(NotFound, match="no app named acme-inc"):
        e.app_metrics("acme-inc", by=bob)


def test_without_metrics_the_view_says_so(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.figures = None
    with pytest.raises(NotSupported, match="EMPIRE_METRICS=false"):
        stack.empire.app_metrics("acme-inc", by=stack.user)


def test_backlogs_are_read_by_the_collector_not_by_a_scrape(stack: Stack) -> None:
    metrics = metrics_of(stack)
    calls: list[int] = []

    def drain_backlog() -> int:
        calls.append(1)
        return 42

    metrics.backlog("drain", drain_backlog)
    metrics.render()
    assert calls == []
    Collector(metrics, None, interval=60).run_once()
    assert calls == [1]
    assert value(metrics, "empire_drain_backlog") == 42
    metrics.render()
    assert calls == [1]


def test_the_webhook_backlog_counts_pending_deliveries(tmp_path: Path) -> None:
    from empire.webhooks import backlog
    from support.stack import make_stack

    stack = make_stack(
        tmp_path, env={"EMPIRE_WEBHOOKS": "http://127.0.0.1:9/a,http://127.0.0.1:9/b"}
    )
    metrics = metrics_of(stack)
    metrics.backlog("webhook", lambda: backlog(stack.store))
    assert backlog(stack.store) == 0
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)  # create + deploy: 2 events x 2 URLs
    Collector(metrics, None, interval=60).run_once()
    assert value(metrics, "empire_webhook_backlog") == 4


def test_router_reloads_are_the_routers_own_count(stack: Stack) -> None:
    metrics = metrics_of(stack)

    class Router:
        loads = 0

    router = Router()
    metrics.watch_router(router)
    router.loads = 3
    assert value(metrics, "empire_router_reloads_total") == 3
    metrics.watch_router(object())  # a router that keeps no count (none, ECS): no series
    assert "empire_router_reloads" not in metrics.render().decode()
