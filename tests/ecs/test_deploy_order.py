"""A whole deploy on ECS, through the `Empire` facade: the release phase, then the services.

The facade is built as in test_facade.py (a migrated SQLite store, fake images, the
`EcsScheduler` on the moto server), with a fake clock whose `sleep` plays the release task's
part: once the phase's RunTask has been sent, the task writes a line to its log stream and
ends (moto reports exit code 0). For a failing phase, an `after-call` hook on the ECS client
gives the stopped release container exit code 3 in DescribeTasks' answer (moto cannot).

Every AWS call the backend makes is recorded in order (`Infra.calls`), so the order the
core follows (`scheduler.release_phase`, then `scheduler.submit`, in usecases/base.py) is
read from what AWS was asked: the release task runs and stops before the first
CreateService or UpdateService, and after a phase that failed there is none at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ecs.ecs_support import FakeTime, Infra, container, tags
from empire.core import Empire
from empire.events import MemorySink
from empire.images.fake import FakeImages
from empire.model import Outcome, Release, User
from empire.settings import Settings
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from empire.wiring import build_empire

PROCFILE = b"""
web:
  command: ./bin/web
  healthcheck: /health
worker:
  command: ./bin/worker
release: ./bin/migrate --all
"""
SERVICE_WRITES = ("CreateService", "UpdateService")


class ReleaseTask:
    """Plays the release task from the fake clock: once started, it says a line and ends."""

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self.ended: set[str] = set()
        self.exit_code = 0  # what DescribeTasks reports for a stopped release container
        infra.clients.ecs.meta.events.register("after-call.ecs.DescribeTasks", self._exit)

    def tick(self) -> None:
        cluster = self.infra.config.cluster
        ecs = self.infra.clients.ecs
        for ran in self.infra.sent("RunTask"):
            if tags(ran["tags"]).get("empire.kind") != "release":
                continue
            arns = ecs.list_tasks(cluster=cluster, startedBy=ran["startedBy"])["taskArns"]
            for arn in arns:
                if arn in self.ended:
                    continue
                self.ended.add(arn)
                self._say(arn, "migrating")
                ecs.stop_task(cluster=cluster, task=arn, reason="Essential container exited")

    def _say(self, arn: str, line: str) -> None:
        logs = self.infra.clients.logs
        stream = f"acme/release/{arn.rsplit('/', 1)[-1]}"
        logs.create_log_stream(logGroupName=self.infra.config.log_group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=self.infra.config.log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": line}],
        )

    def _exit(self, parsed: dict[str, Any], **_: Any) -> None:
        for task in parsed.get("tasks") or []:
            if task.get("taskArn") not in self.ended or task.get("lastStatus") != "STOPPED":
                continue
            for box in task.get("containers") or []:
                if box.get("name") == "release":
                    box["exitCode"] = self.exit_code


class Clock(FakeTime):
    def __init__(self, task: ReleaseTask) -> None:
        super().__init__()
        self.task = task

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.task.tick()


@pytest.fixture
def release_task(infra: Infra) -> ReleaseTask:
    return ReleaseTask(infra)


@pytest.fixture
def empire(infra: Infra, release_task: ReleaseTask, tmp_path: Path) -> tuple[Empire, User]:
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake"}
    )
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    images = FakeImages({"acme/acme:v1": PROCFILE, "acme/acme:v2": PROCFILE})
    clock = Clock(release_task)
    scheduler = infra.scheduler(
        sleep=clock.sleep, monotonic=clock.monotonic, phase_poll_interval=2.0
    )
    facade = build_empire(
        settings, store=store, images=images, scheduler=scheduler, events=MemorySink()
    )
    user, _ = facade.create_user("alice", admin=True)
    return facade, user


def names(infra: Infra) -> list[str]:
    return [name for name, _ in infra.calls]


def phase_task(infra: Infra) -> int:
    """The index of the (single) release phase RunTask among the recorded calls."""
    (index,) = [
        i
        for i, (name, params) in enumerate(infra.calls)
        if name == "RunTask" and tags(params["tags"]).get("empire.kind") == "release"
    ]
    return index


def deploy(facade: Empire, alice: User, image: str) -> Release:
    return facade.deploy(image, by=alice, progress=lambda _: None, stream=True)


def assert_phase_then_services(infra: Infra, write: str) -> None:
    """The release task ran and stopped before the first service write, which is `write`."""
    calls = names(infra)
    ran = phase_task(infra)
    writes = [i for i, name in enumerate(calls) if name in SERVICE_WRITES]
    assert writes, f"no {write} at all: {calls}"
    assert calls[writes[0]] == write
    assert ran < writes[0], calls
    # the phase was over first: the task's end, and the last look at it, come before too
    assert calls.index("StopTask", ran) < writes[0]
    last_look = max(i for i, name in enumerate(calls[: writes[0]]) if name == "DescribeTasks")
    assert ran < last_look < writes[0]
    # and nothing of the services' own was registered before the phase's task ran
    families = [
        (i, p["family"]) for i, (n, p) in enumerate(infra.calls) if n == "RegisterTaskDefinition"
    ]
    release_family = infra.config.release_family("acme")
    assert all(i > ran for i, family in families if family != release_family), families


def test_the_release_phase_runs_before_any_service_changes(
    empire: tuple[Empire, User], infra: Infra
) -> None:
    facade, alice = empire

    infra.calls.clear()
    v1 = deploy(facade, alice, "acme/acme:v1")
    assert v1.outcome is Outcome.SUCCEEDED, v1.reason
    assert_phase_then_services(infra, "CreateService")
    assert set(infra.services()) == {"acme_web", "acme_worker"}

    infra.calls.clear()
    v2 = deploy(facade, alice, "acme/acme:v2")
    assert v2.outcome is Outcome.SUCCEEDED, v2.reason
    assert_phase_then_services(infra, "UpdateService")
    web = infra.services()["acme_web"]
    assert container(infra.task_definition(web["taskDefinition"]))["image"] == v2.slug.image


def test_a_failing_first_phase_creates_no_service(
    empire: tuple[Empire, User], infra: Infra, release_task: ReleaseTask
) -> None:
    facade, alice = empire
    release_task.exit_code = 3
    infra.calls.clear()

    v1 = deploy(facade, alice, "acme/acme:v1")

    assert v1.outcome is Outcome.FAILED
    assert v1.reason.startswith("the release phase exited with code 3"), v1.reason
    phase_task(infra)  # it did run
    assert [n for n in names(infra) if n in SERVICE_WRITES] == []
    assert infra.services() == {}


def test_a_failing_phase_leaves_the_services_as_they_were(
    empire: tuple[Empire, User], infra: Infra, release_task: ReleaseTask
) -> None:
    facade, alice = empire
    v1 = deploy(facade, alice, "acme/acme:v1")
    assert v1.outcome is Outcome.SUCCEEDED, v1.reason
    before = {n: (s["taskDefinition"], s["desiredCount"]) for n, s in infra.services().items()}
    release_task.exit_code = 3
    infra.calls.clear()

    v2 = deploy(facade, alice, "acme/acme:v2")

    assert v2.outcome is Outcome.FAILED
    assert v2.reason.startswith("the release phase exited with code 3"), v2.reason
    assert "migrating" in v2.reason  # its last lines
    phase_task(infra)
    assert [n for n in names(infra) if n in SERVICE_WRITES] == []
    after = {n: (s["taskDefinition"], s["desiredCount"]) for n, s in infra.services().items()}
    assert after == before
    families = {p["family"] for p in infra.sent("RegisterTaskDefinition")}
    assert families == {infra.config.release_family("acme")}
