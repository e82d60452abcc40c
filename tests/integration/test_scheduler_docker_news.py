"""The Docker backend's news and rounds on the real engine: a container killed behind Empire's
back is reported (`subscribe`), and a round (`sweep`) converges every app from one read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from empire.model import App, Outcome, Port, Process, Size
from empire.scheduler.kit.events import EngineEvent
from support.waiting import wait_for

SMALL = Size(cpu_shares=128, memory=64 * 1024 * 1024, nproc=64)
WEB = ("sh", "-c", 'mkdir -p /www && echo up > /www/index.html && exec httpd -f -p "$PORT" -h /www')
WORKER = ("sh", "-c", "exec sleep 3600")


def new_app(name: str = "acme-inc") -> App:
    now = datetime.now(UTC)
    return App(id=str(uuid.uuid4()), name=name, created_at=now, updated_at=now)


def web(quantity: int) -> Process:
    return Process("web", WEB, quantity, SMALL, ports=(Port(80, 80, "http"),))


def worker(quantity: int) -> Process:
    return Process("worker", WORKER, quantity, SMALL)


def test_a_killed_instance_is_reported_and_the_next_submit_in_a_round_replaces_it(
    docker_client, docker_scheduler, make_manifest
):
    scheduler = docker_scheduler()
    app, other = new_app(), new_app("acme-two")
    manifest = make_manifest(app, 1, {"web": web(1), "worker": worker(1)})
    others = make_manifest(other, 1, {"worker": worker(1)})
    assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED
    assert scheduler.submit(others).outcome is Outcome.SUCCEEDED

    changed: list[str] = []
    events: list[EngineEvent] = []
    scheduler.subscribe(changed.append)
    scheduler.events.listen(events.append)
    scheduler.start()
    assert wait_for(scheduler.events.connected.is_set, timeout=10, what="the event stream")

    victim = next(t for t in scheduler.tasks(app.id) if t.process == "worker")
    docker_client.containers.get(victim.id).kill()
    wait_for(lambda: app.id in changed, timeout=10, what="the news of the kill")
    assert other.id not in changed
    died = next(e for e in events if e.action == "die" and e.app_id == app.id)
    assert (died.process, died.exit_code, died.task) == ("worker", 137, "v1.worker.1")

    with scheduler.sweep():  # a round: one read, the killed worker replaced from a fresh one
        assert scheduler.submit(others).outcome is Outcome.SUCCEEDED
        assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED
    tasks = scheduler.tasks(app.id)
    assert sorted((t.name, t.state) for t in tasks) == [("v1.web.1", "up"), ("v1.worker.1", "up")]
    assert victim.id not in {t.id for t in tasks}
