"""The reconciler's cost in engine calls: constant per round whatever the number of apps, and
what a round heals (a crash nobody reported), on the Docker backend with an engine in memory."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from empire.core import Empire
from empire.images.fake import FakeImages
from empire.model import ScaleUpdate
from empire.router import NoRouter
from empire.scheduler import labels
from empire.scheduler.docker import DockerScheduler
from empire.settings import Settings
from empire.wiring import build_empire
from support.fake_engine import FakeEngine
from support.stack import Stack, make_stack

LISTS = ("containers", "networks")  # the engine's list calls


@pytest.fixture
def listening() -> Iterator[int]:
    """A real listening socket: every fake container's published port leads to it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(512)
        yield server.getsockname()[1]


def docker_empire(stack: Stack, tmp_path: Path, engine: FakeEngine) -> Empire:
    scheduler = DockerScheduler(
        engine,  # type: ignore[arg-type]
        NoRouter(),
        network="empire-test",
        min_running=0.0,
        poll_interval=0.001,
        drain=0.0,
        stop_timeout=0,
    )
    images = FakeImages(default_procfile=b"web: ./bin/web\nworker: ./bin/worker\n", accept_any=True)
    settings = Settings.from_env({"EMPIRE_DATA_DIR": str(tmp_path)})
    return build_empire(settings, store=stack.store, scheduler=scheduler, images=images)


def grow(empire: Empire, stack: Stack, count: int) -> None:
    for n in range(count):
        empire.deploy(f"acme/app-{n:03d}:v1", by=stack.user)
        empire.scale(f"app-{n:03d}", [ScaleUpdate("worker", 1)], by=stack.user)


def lists(engine: FakeEngine) -> int:
    return sum(engine.calls[name] for name in LISTS)


@pytest.mark.parametrize("apps", [1, 10, 100])
def test_a_steady_round_makes_the_same_engine_calls_whatever_the_number_of_apps(
    tmp_path: Path, listening: int, apps: int
) -> None:
    stack = make_stack(tmp_path)
    engine = FakeEngine(port=listening)
    empire = docker_empire(stack, tmp_path, engine)
    grow(empire, stack, apps)
    assert empire.reconcile() == apps  # the first round checks what it never saw
    engine.reset()
    assert empire.reconcile() == apps
    assert lists(engine) == 1, engine.calls
    assert sum(engine.calls.values()) == 1, engine.calls  # no inspect, no create: nothing to do
    running = [c for c in engine.containers_by_id.values() if c["State"]["Status"] == "running"]
    assert len(running) == 2 * apps


def test_a_crash_nobody_reported_is_healed_by_the_next_round(
    tmp_path: Path, listening: int
) -> None:
    stack = make_stack(tmp_path)
    engine = FakeEngine(port=listening)
    empire = docker_empire(stack, tmp_path, engine)
    grow(empire, stack, 3)
    empire.reconcile()
    victim = next(
        c
        for c in engine.containers_by_id.values()
        if c["Config"]["Labels"][labels.APP] == "app-001"
        and c["Config"]["Labels"][labels.PROCESS] == "worker"
    )
    engine.die(victim["Id"], 137)  # no event reaches Empire
    engine.reset()
    empire.reconcile()
    assert victim["Id"] not in engine.containers_by_id  # the exited one is retired...
    workers = [
        c
        for c in engine.containers_by_id.values()
        if c["Config"]["Labels"][labels.APP] == "app-001"
        and c["Config"]["Labels"][labels.PROCESS] == "worker"
    ]
    assert [c["State"]["Status"] for c in workers] == ["running"]  # ...and replaced
    # One list for the round; for the app that had work to do, a fresh read before acting and
    # one to name the new instance in its route.
    assert engine.calls["containers"] == 3, engine.calls
    engine.reset()
    empire.reconcile()
    assert lists(engine) == 1 and engine.calls["create_container"] == 0


def test_a_round_never_acts_on_what_a_use_case_changed_after_its_read(
    tmp_path: Path, listening: int
) -> None:
    """A task stopped between the round's read and the app's turn: the round reads the app
    again (and replaces the task) instead of routing to the container the stop removed."""
    stack = make_stack(tmp_path)
    engine = FakeEngine(port=listening)
    empire = docker_empire(stack, tmp_path, engine)
    grow(empire, stack, 2)
    empire.reconcile()
    scheduler = empire.scheduler
    assert isinstance(scheduler, DockerScheduler)
    app = empire.app("app-000", by=stack.user)
    with scheduler.sweep():
        scheduler._sweeps.everything()  # the round reads...
        empire.restart_dyno("app-000", "web.1", by=stack.user)  # ...then a use case stops one
        engine.reset()
        empire.reconcile()  # the round carries on: its read is stale for app-000
    names = {c["Name"].lstrip("/") for c in engine.containers_by_id.values()}
    route = scheduler._routes.router.current(app.id)
    assert route is not None and len(route.endpoints("web")) == 1
    assert {e.host for e in route.endpoints("web")} <= names  # routed to what runs
    assert engine.calls["create_container"] == 1  # the stopped task was replaced
