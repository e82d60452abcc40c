"""The release phase on ECS: a task of the new release whose exit code is awaited.

Against the moto server, with a fake clock whose `sleep` plays the task's part: it writes the
task's output into its CloudWatch Logs stream (where the awslogs driver would) and, for a
command that ends, stops the task (moto reports exit code 0). moto cannot report another exit
code, nor a task that never ran its command: those are scripted with botocore's Stubber on
the ECS client while Parameter Store and CloudWatch Logs stay on moto.

The core runs the phase before it submits the release; here the caller stops after a failed
phase, and the app's services are what they were.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ecs.ecs_support import ACCOUNT, CREDENTIALS, REGION, AppState, FakeTime, Infra, tags
from empire.errors import SchedulerError
from empire.model import Outcome
from empire.scheduler import Manifest, ManifestProcess, PhaseResult
from empire.scheduler.ecs import EcsScheduler
from empire.scheduler.ecs.phase import CUT, MAX_LINE, TAIL

IMAGE_V1 = "acme/acme@sha256:" + "1" * 64
IMAGE_V2 = "acme/acme@sha256:" + "2" * 64
PROCFILE = b"""
web:
  command: ./bin/web
  healthcheck: /health
worker: ./bin/worker
release: ./bin/migrate --all
"""


def split(state: AppState) -> tuple[Manifest, ManifestProcess]:
    """The manifest the core submits (no `release` process) and the release process."""
    phase = state.phase()
    assert phase is not None
    return state.manifest(), phase.processes[0]


class Task:
    """Plays the release task's part from the fake clock's `sleep`."""

    def __init__(self, infra: Infra, app_id: str, app: str) -> None:
        self.infra = infra
        self.app_id = app_id
        self.app = app
        self.arn = ""

    def find(self) -> str:
        if not self.arn:
            (self.arn,) = self.infra.clients.ecs.list_tasks(
                cluster=self.infra.config.cluster, startedBy=self.app_id
            )["taskArns"]
        return self.arn

    def say(self, *lines: str) -> None:
        logs = self.infra.clients.logs
        stream = f"{self.app}/release/{self.find().rsplit('/', 1)[-1]}"
        group = self.infra.config.log_group
        if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)[
            "logStreams"
        ]:
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now + i, "message": line} for i, line in enumerate(lines)],
        )

    def end(self) -> None:
        self.infra.clients.ecs.stop_task(
            cluster=self.infra.config.cluster, task=self.find(), reason="Essential container exited"
        )

    def described(self) -> dict[str, Any]:
        found = self.infra.clients.ecs.describe_tasks(
            cluster=self.infra.config.cluster, tasks=[self.find()], include=["TAGS"]
        )
        return dict(found["tasks"][0])


class Clock(FakeTime):
    """A fake clock that runs `steps` in turn, one per sleep."""

    def __init__(self, *steps: Callable[[], None]) -> None:
        super().__init__()
        self.steps = list(steps)

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.steps:
            self.steps.pop(0)()


def scheduler(infra: Infra, clock: FakeTime) -> EcsScheduler:
    return infra.scheduler(sleep=clock.sleep, monotonic=clock.monotonic, phase_poll_interval=2.0)


def deployed(infra: Infra) -> tuple[AppState, dict[str, Any]]:
    """acme v1 deployed, and its services as they are."""
    state = AppState.new("acme", "app-acme", IMAGE_V1, PROCFILE)
    state.vars = {"DATABASE_URL": "postgres://v1"}
    manifest, _ = split(state)
    assert infra.scheduler().submit(manifest).outcome is Outcome.SUCCEEDED
    return state, infra.services()


def services_untouched(infra: Infra, before: dict[str, Any]) -> None:
    """The caller stopped after the phase: every service runs what it ran."""
    after = infra.services()
    assert {n: (s["taskDefinition"], s["desiredCount"]) for n, s in after.items()} == {
        n: (s["taskDefinition"], s["desiredCount"]) for n, s in before.items()
    }
    assert infra.sent("UpdateService") == [] and infra.sent("CreateService") == []
    families = {r["family"] for r in infra.sent("RegisterTaskDefinition")}
    assert families == {infra.config.release_family("acme")}


def test_exit_0_streams_the_output_and_keeps_the_last_lines(infra: Infra) -> None:
    state, before = deployed(infra)
    state.version, state.image, state.vars = 2, IMAGE_V2, {"DATABASE_URL": "postgres://v2"}
    manifest, release = split(state)
    task = Task(infra, "app-acme", "acme")
    long = "x" * (MAX_LINE + 100)
    lines = [f"migrating {i}" for i in range(25)]
    seen_by_ps: list[list[str]] = []
    clock = Clock(
        lambda: task.say("== migrate ==", long),
        lambda: seen_by_ps.append([t.name for t in phases.tasks("app-acme")]),
        lambda: (task.say(*lines), task.end()),
    )
    phases = scheduler(infra, clock)
    infra.calls.clear()
    output: list[str] = []

    result = phases.release_phase(manifest, release, timeout=3600, output=output.append)

    assert result.exit_code == 0
    assert output == ["== migrate ==", "x" * MAX_LINE + CUT, *lines]
    assert result.tail == tuple(output[-TAIL:]) and len(result.tail) == TAIL
    assert seen_by_ps == [[]]  # the release task is no process of the formation
    (registered,) = infra.sent("RegisterTaskDefinition")
    box = registered["containerDefinitions"][0]
    assert registered["family"] == infra.config.release_family("acme")
    assert (box["name"], box["image"]) == ("release", IMAGE_V2)
    assert box["command"] == ["./bin/migrate", "--all"]
    assert "portMappings" not in box or box["portMappings"] == []
    assert "healthCheck" not in box
    assert [s["name"] for s in box["secrets"]] == ["DATABASE_URL"]
    assert "/v2/" in box["secrets"][0]["valueFrom"]
    assert {e["name"]: e["value"] for e in box["environment"]}["EMPIRE_RELEASE"] == "v2"
    (ran,) = infra.sent("RunTask")
    assert ran["startedBy"] == "app-acme" and ran["count"] == 1
    assert tags(ran["tags"])["empire.kind"] == "release"
    assert infra.active_revisions(infra.config.release_family("acme")) == []  # deregistered
    # the only stop is the task's own end (played by the test): the phase stopped nothing
    assert [c["reason"] for c in infra.sent("StopTask")] == ["Essential container exited"]
    services_untouched(infra, before)


def test_a_phase_still_running_at_the_timeout_is_stopped(infra: Infra) -> None:
    state, before = deployed(infra)
    state.version = 2
    manifest, release = split(state)
    task = Task(infra, "app-acme", "acme")
    clock = Clock(lambda: task.say("waiting for a lock"))
    phases = scheduler(infra, clock)
    infra.calls.clear()
    output: list[str] = []

    result = phases.release_phase(manifest, release, timeout=30, output=output.append)

    assert result == PhaseResult(None, ("waiting for a lock",))
    assert output == ["waiting for a lock"]
    assert clock.now == 30.0 and set(clock.sleeps) == {2.0}
    (stopped,) = infra.sent("StopTask")
    assert stopped["task"] == task.find()
    assert stopped["reason"] == "the release phase ran longer than 30s"
    assert task.described()["lastStatus"] == "STOPPED"
    services_untouched(infra, before)


def test_a_caller_that_gives_up_leaves_nothing_running(infra: Infra) -> None:
    state, _ = deployed(infra)
    state.version = 2
    manifest, release = split(state)
    task = Task(infra, "app-acme", "acme")
    phases = scheduler(infra, Clock(lambda: task.say("one line")))

    def gone(line: str) -> None:
        raise BrokenPipeError("the client went away")

    with pytest.raises(BrokenPipeError):
        phases.release_phase(manifest, release, timeout=3600, output=gone)
    (stopped,) = infra.sent("StopTask")
    assert stopped["reason"] == "the release phase was interrupted"
    assert task.described()["lastStatus"] == "STOPPED"


def test_start_and_close_are_there(infra: Infra) -> None:
    phases = infra.scheduler()
    phases.start()
    phases.start()
    phases.close()
    phases.close()
    assert infra.calls == []  # nothing runs in the background on ECS


# -- what moto cannot report: scripted ECS answers ------------------------------------------------


@dataclasses.dataclass
class Stubbed:
    scheduler: EcsScheduler
    stub: Stubber
    time: FakeTime
    infra: Infra

    def td(self) -> str:
        family = self.infra.config.release_family("acme")
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1"

    def task(self, task_id: str) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{self.infra.config.cluster}/{task_id}"

    def started(self, task_id: str) -> None:
        self.stub.add_response(
            "register_task_definition",
            {"taskDefinition": {"taskDefinitionArn": self.td(), "containerDefinitions": []}},
        )
        self.stub.add_response(
            "run_task",
            {"tasks": [{"taskArn": self.task(task_id), "lastStatus": "PROVISIONING"}]},
            {
                "cluster": self.infra.config.cluster,
                "taskDefinition": self.td(),
                "count": 1,
                "startedBy": "app-acme",
                "launchType": "EC2",
                "networkConfiguration": self.infra.config.network(),
                "tags": ANY,
                "enableECSManagedTags": True,
            },
        )
        self.stub.add_response("deregister_task_definition", {}, {"taskDefinition": self.td()})

    def described(self, task_id: str, status: str, **fields: Any) -> None:
        self.stub.add_response(
            "describe_tasks",
            {"tasks": [{"taskArn": self.task(task_id), "lastStatus": status, **fields}]},
            {"cluster": self.infra.config.cluster, "tasks": [self.task(task_id)]},
        )


@pytest.fixture
def stubbed(infra: Infra) -> Iterator[Stubbed]:
    ecs = boto3.client("ecs", region_name=REGION, **CREDENTIALS)
    stub = Stubber(ecs)
    clock = FakeTime()
    phases = EcsScheduler(
        dataclasses.replace(infra.clients, ecs=ecs),
        infra.config,
        poll_interval=5.0,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    with stub:
        yield Stubbed(phases, stub, clock, infra)
        stub.assert_no_pending_responses()


def write_log(infra: Infra, task_id: str, *lines: str) -> None:
    logs = infra.clients.logs
    stream = f"acme/release/{task_id}"
    logs.create_log_stream(logGroupName=infra.config.log_group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=infra.config.log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)],
    )


def test_a_non_zero_exit_is_the_result(stubbed: Stubbed) -> None:
    s = stubbed
    state = AppState.new("acme", "app-acme", IMAGE_V2, PROCFILE)
    manifest, release = split(state)
    s.started("0f1e2d3c")
    s.described("0f1e2d3c", "RUNNING")
    write_log(s.infra, "0f1e2d3c", "applying 0042_add_index", "ERROR: relation exists")
    s.described(
        "0f1e2d3c",
        "STOPPED",
        stoppedReason="Essential container in task exited",
        containers=[{"name": "release", "exitCode": 3}],
    )
    output: list[str] = []
    result = s.scheduler.release_phase(manifest, release, timeout=600, output=output.append)
    assert result == PhaseResult(3, ("applying 0042_add_index", "ERROR: relation exists"))
    assert output == list(result.tail)
    assert s.time.sleeps == [2.0, 2.0]  # polled closer than a rollout; one grace for late logs


def test_a_task_that_never_ran_its_command_is_an_error(stubbed: Stubbed) -> None:
    s = stubbed
    manifest, release = split(AppState.new("acme", "app-acme", IMAGE_V2, PROCFILE))
    s.started("5a6b7c8d")
    s.described(
        "5a6b7c8d",
        "STOPPED",
        stoppedReason="ResourceInitializationError: unable to pull secrets or registry auth",
        containers=[{"name": "release", "reason": "CannotPullContainerError: not found"}],
    )
    with pytest.raises(SchedulerError) as raised:
        s.scheduler.release_phase(manifest, release, timeout=600, output=lambda _: None)
    assert str(raised.value) == (
        "the release task stopped before its command ran: ResourceInitializationError: "
        "unable to pull secrets or registry auth; CannotPullContainerError: not found"
    )


def test_a_task_ecs_cannot_place_is_an_error(stubbed: Stubbed) -> None:
    s = stubbed
    manifest, release = split(AppState.new("acme", "app-acme", IMAGE_V2, PROCFILE))
    s.stub.add_response(
        "register_task_definition",
        {"taskDefinition": {"taskDefinitionArn": s.td(), "containerDefinitions": []}},
    )
    s.stub.add_response(
        "run_task", {"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY", "arn": "x"}]}
    )
    s.stub.add_response("deregister_task_definition", {}, {"taskDefinition": s.td()})
    with pytest.raises(SchedulerError) as raised:
        s.scheduler.release_phase(manifest, release, timeout=600, output=lambda _: None)
    assert str(raised.value) == "ECS could not start the release phase: RESOURCE:MEMORY"
