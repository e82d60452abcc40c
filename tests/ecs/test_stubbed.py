"""What moto does not model, with botocore's Stubber on the ECS client.

moto has no rollout model (a service's deployment never changes after it is created), so the
ECS client is stubbed here: ECS answers are scripted call by call, in order, while ELBv2,
Route53 and EventBridge still go to the moto server. Time is fake: `sleep` advances the
clock the deadline is measured with, so a ten-minute deadline takes no time.

- a circuit-breaker rollback: web fails, ECS rolls it back; worker, which had completed, is
  put back on its previous task definition; the verdict is ROLLED_BACK with ECS's reason and
  the stopped task's;
- a deployment that never stabilises: the deadline verdict, and the service put back;
- throttling: retried with exponential backoff, then a clear error when it persists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ecs.ecs_support import (
    ACCOUNT,
    CREDENTIALS,
    REGION,
    AppState,
    FakeTime,
    Infra,
    parameters,
)
from empire.model import Outcome
from empire.scheduler.ecs import AwsError, EcsScheduler
from empire.scheduler.ecs.services import DEPLOYMENT

IMAGE = "acme/acme@sha256:" + "3" * 64
WHEN = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@dataclasses.dataclass
class Stubbed:
    scheduler: EcsScheduler
    stub: Stubber
    time: FakeTime
    infra: Infra

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:ecs:{REGION}:{ACCOUNT}:{kind}/{name}"

    def family(self, process: str) -> str:
        return self.infra.config.family("acme", process)

    def td(self, process: str, revision: int) -> str:
        return self.arn("task-definition", f"{self.family(process)}:{revision}")

    def service(
        self,
        process: str,
        deployments: list[dict[str, Any]],
        events: list[str] = (),  # type: ignore[assignment]
    ) -> dict[str, Any]:
        primary = next(d for d in deployments if d["status"] == "PRIMARY")
        return {
            "serviceName": f"acme_{process}",
            "serviceArn": self.arn("service", f"{self.infra.config.cluster}/acme_{process}"),
            "status": "ACTIVE",
            "taskDefinition": primary["taskDefinition"],
            "desiredCount": primary["desiredCount"],
            "deploymentConfiguration": DEPLOYMENT,
            "loadBalancers": [],
            "deployments": deployments,
            "events": [
                {"id": f"e-{process}-{i}", "createdAt": WHEN, "message": m}
                for i, m in enumerate(events)
            ],
            "tags": [
                {"key": "empire.cluster", "value": self.infra.config.cluster_name},
                {"key": "empire.app.id", "value": "app-acme"},
            ],
        }

    def deployment(
        self, id: str, td: str, state: str, running: int, *, primary: bool = True, reason: str = ""
    ) -> dict[str, Any]:
        found = {
            "id": id,
            "status": "PRIMARY" if primary else "ACTIVE",
            "taskDefinition": td,
            "desiredCount": 2,
            "runningCount": running,
            "pendingCount": 2 - running,
            "rolloutState": state,
        }
        if reason:
            found["rolloutStateReason"] = reason
        return found

    def expect(self, method: str, response: dict[str, Any], params: Any = None) -> None:
        self.stub.add_response(method, response, params)

    def existing(self, *processes: str) -> None:
        """list_services, describe_services and the running task definitions (:1)."""
        names = [f"acme_{p}" for p in processes]
        self.expect(
            "list_services",
            {"serviceArns": [self.arn("service", f"c/{n}") for n in names]},
            {"cluster": self.infra.config.cluster, "maxResults": 100},
        )
        services = [
            self.service(p, [self.deployment(f"d1-{p}", self.td(p, 1), "COMPLETED", 2)])
            for p in processes
        ]
        self.expect(
            "describe_services",
            {"services": services},
            {"cluster": self.infra.config.cluster, "services": names, "include": ["TAGS"]},
        )
        for p in processes:
            self.expect(
                "describe_task_definition",
                {
                    "taskDefinition": {
                        "taskDefinitionArn": self.td(p, 1),
                        "containerDefinitions": [
                            {"name": p, "dockerLabels": {"empire.spec": "old"}}
                        ],
                    },
                    "tags": [],
                },
                {"taskDefinition": self.td(p, 1), "include": ["TAGS"]},
            )
            self.expect(
                "register_task_definition",
                {
                    "taskDefinition": {
                        "taskDefinitionArn": self.td(p, 2),
                        "containerDefinitions": [{"name": p}],
                    }
                },
            )

    def updated(self, process: str, deployment: str, **params: Any) -> None:
        previous = self.deployment(
            f"d1-{process}", self.td(process, 1), "COMPLETED", 2, primary=False
        )
        new = self.deployment(deployment, self.td(process, 2), "IN_PROGRESS", 0)
        self.expect(
            "update_service",
            {"service": self.service(process, [new, previous])},
            {
                "cluster": self.infra.config.cluster,
                "service": f"acme_{process}",
                "taskDefinition": self.td(process, 2),
                **params,
            },
        )


@pytest.fixture
def stubbed(infra: Infra) -> Iterator[Stubbed]:
    ecs = boto3.client("ecs", region_name=REGION, **CREDENTIALS)
    stub = Stubber(ecs)
    clock = FakeTime()
    scheduler = EcsScheduler(
        dataclasses.replace(infra.clients, ecs=ecs),
        infra.config,
        deadline=600.0,
        poll_interval=5.0,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    with stub:
        yield Stubbed(scheduler, stub, clock, infra)
        stub.assert_no_pending_responses()


def test_a_circuit_breaker_rollback_rolls_the_whole_release_back(stubbed: Stubbed) -> None:
    s = stubbed
    state = AppState.new("acme", "app-acme", IMAGE, b"web: ./bin/web\nworker: ./bin/worker\n")
    state.scale("web", 2)
    state.scale("worker", 2)
    state.version, state.vars = 2, {"SECRET": "two"}
    v1 = f"{s.infra.config.parameters_path('app-acme', 1)}/SECRET"
    s.infra.clients.ssm.put_parameter(Name=v1, Value="one", Type="SecureString")
    s.existing("web", "worker")
    s.updated("web", "d2-web", loadBalancers=ANY)  # the target group is made in moto
    s.updated("worker", "d2-worker")
    old_web = s.deployment("d1-web", s.td("web", 1), "COMPLETED", 2, primary=False)
    old_worker = s.deployment("d1-worker", s.td("worker", 1), "COMPLETED", 2, primary=False)
    s.expect(
        "describe_services",
        {
            "services": [
                s.service(
                    "web",
                    [s.deployment("d2-web", s.td("web", 2), "IN_PROGRESS", 0), old_web],
                    ["(service acme_web) has started 2 tasks: (task 1) (task 2)."],
                ),
                s.service(
                    "worker",
                    [s.deployment("d2-worker", s.td("worker", 2), "IN_PROGRESS", 1), old_worker],
                ),
            ]
        },
    )
    failed = s.deployment(
        "d2-web",
        s.td("web", 2),
        "FAILED",
        0,
        primary=False,
        reason="ECS deployment circuit breaker: tasks failed to start.",
    )
    rollback = s.deployment("d3-web", s.td("web", 1), "IN_PROGRESS", 2)
    s.expect(
        "describe_services",
        {
            "services": [
                s.service(
                    "web",
                    [rollback, failed],
                    [
                        "(service acme_web) has started 2 tasks: (task 1) (task 2).",
                        "(service acme_web) deployment d2-web deployment failed: "
                        "tasks failed to start.",
                    ],
                ),
                s.service("worker", [s.deployment("d2-worker", s.td("worker", 2), "COMPLETED", 2)]),
            ]
        },
    )
    stopped = s.arn("task", "c/0badc0de")
    s.expect(
        "list_tasks",
        {"taskArns": [stopped]},
        {"cluster": ANY, "serviceName": "acme_web", "desiredStatus": "STOPPED", "maxResults": 10},
    )
    s.expect(
        "describe_tasks",
        {
            "tasks": [
                {
                    "taskArn": stopped,
                    "taskDefinitionArn": s.td("web", 2),
                    "lastStatus": "STOPPED",
                    "stoppedReason": "Essential container in task exited",
                    "containers": [{"name": "web", "exitCode": 3}],
                }
            ]
        },
    )
    s.expect(
        "update_service",
        {"service": s.service("worker", [s.deployment("d4", s.td("worker", 1), "IN_PROGRESS", 2)])},
        {"cluster": ANY, "service": "acme_worker", "taskDefinition": s.td("worker", 1)},
    )
    s.expect("deregister_task_definition", {}, {"taskDefinition": s.td("web", 2)})
    s.expect("deregister_task_definition", {}, {"taskDefinition": s.td("worker", 2)})

    lines: list[str] = []
    verdict = s.scheduler.submit(state.manifest(), lines.append)

    assert verdict.outcome is Outcome.ROLLED_BACK
    assert verdict.reason == (
        "web: ECS deployment circuit breaker: tasks failed to start. (last stopped task: "
        "Essential container in task exited (web exited with code 3))"
    )
    assert "Status: web: (service acme_web) has started 2 tasks: (task 1) (task 2)." in lines
    assert f"Status: web: deployment FAILED ({s.family('web')}:2), 0/2 running, 2 pending" in lines
    assert f"Status: web: ECS rolls back to {s.family('web')}:1" in lines
    assert f"Status: worker: rolled back to {s.family('worker')}:1" in lines
    assert s.time.sleeps == [5.0]
    # the release ECS and Empire went back to still finds its config in Parameter Store
    assert parameters(s.infra) == [v1, v1.replace("/v1/", "/v2/")]


def test_a_deployment_that_never_stabilises_ends_at_the_deadline(stubbed: Stubbed) -> None:
    s = stubbed
    state = AppState.new("acme", "app-acme", IMAGE, b"worker: ./bin/worker\n")
    state.scale("worker", 2)
    s.existing("worker")
    s.updated("worker", "d2")
    old = s.deployment("d1-worker", s.td("worker", 1), "COMPLETED", 2, primary=False)
    stuck = s.deployment("d2", s.td("worker", 2), "IN_PROGRESS", 1)
    for _ in range(121):  # at 0, 5, ... 600 s
        s.expect(
            "describe_services",
            {
                "services": [
                    s.service(
                        "worker",
                        [stuck, old],
                        [
                            "(service acme_worker) was unable to place a task because no "
                            "container instance met all of its requirements."
                        ],
                    )
                ]
            },
        )
    s.expect(
        "update_service",
        {"service": s.service("worker", [s.deployment("d3", s.td("worker", 1), "IN_PROGRESS", 1)])},
        {"cluster": ANY, "service": "acme_worker", "taskDefinition": s.td("worker", 1)},
    )
    s.expect("deregister_task_definition", {}, {"taskDefinition": s.td("worker", 2)})

    lines: list[str] = []
    verdict = s.scheduler.submit(state.manifest(), lines.append)

    assert verdict.outcome is Outcome.ROLLED_BACK
    assert verdict.reason == (
        "worker: the ECS deployment did not complete within 600s (last seen: deployment "
        f"IN_PROGRESS ({s.family('worker')}:2), 1/2 running, 1 pending)"
    )
    assert s.time.now == 600.0
    unable = [line for line in lines if "unable to place a task" in line]
    assert len(unable) == 1  # each service event is reported once
    assert lines[-1] == f"Status: worker: rolled back to {s.family('worker')}:1"


def test_throttling_is_retried_with_backoff_then_reported(stubbed: Stubbed) -> None:
    s = stubbed
    for _ in range(2):
        s.stub.add_client_error("list_services", "ThrottlingException", "Rate exceeded", 400)
    s.expect("list_services", {"serviceArns": []})
    s.expect(
        "list_tasks",
        {"taskArns": []},
        {"cluster": ANY, "desiredStatus": "RUNNING", "startedBy": "app-unknown"},
    )
    assert s.scheduler.tasks("app-unknown") == []  # unknown app: looks for its services
    assert len(s.time.sleeps) == 2
    assert 0.25 <= s.time.sleeps[0] <= 0.5 and 0.5 <= s.time.sleeps[1] <= 1.0

    s.time.sleeps.clear()
    for _ in range(6):
        s.stub.add_client_error("list_services", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(AwsError) as raised:
        s.scheduler.tasks("app-unknown")
    assert raised.value.code == "ThrottlingException"
    assert str(raised.value) == (
        "cannot list the cluster's services: AWS answered ThrottlingException: Rate exceeded"
    )
    assert len(s.time.sleeps) == 5
    assert all(b >= a / 2 for a, b in zip(s.time.sleeps, s.time.sleeps[1:], strict=False))
    assert s.time.sleeps[-1] >= 4.0  # 0.5 s doubled four times, half-jittered


def test_other_errors_are_not_retried_and_say_what_failed(stubbed: Stubbed) -> None:
    s = stubbed
    s.stub.add_client_error(
        "list_services", "AccessDeniedException", "not authorized to perform ecs:ListServices", 400
    )
    with pytest.raises(
        AwsError,
        match=r"^cannot list the cluster's services: AWS answered "
        r"AccessDeniedException: not authorized to perform ecs:ListServices$",
    ):
        s.scheduler.tasks("app-unknown")
    assert s.time.sleeps == []


def test_ps_lists_service_tasks_with_their_instance_as_host(stubbed: Stubbed) -> None:
    s = stubbed
    # A fresh scheduler knows no manifest yet: it finds the app's services by their tags.
    s.expect(
        "list_services",
        {"serviceArns": [s.arn("service", "c/acme_worker"), s.arn("service", "c/other_web")]},
    )
    worker = s.service("worker", [s.deployment("d7", s.td("worker", 7), "COMPLETED", 2)])
    other = {**s.service("web", [s.deployment("d1", s.td("web", 1), "COMPLETED", 2)])}
    other["serviceName"], other["tags"] = "other_web", [{"key": "empire.app.id", "value": "x"}]
    s.expect("describe_services", {"services": [worker, other]})
    task = s.arn("task", f"{s.infra.config.cluster}/1a2b3c4d5e6f70819293a4b5c6d7e8f9")
    instance = s.arn("container-instance", f"{s.infra.config.cluster}/ci-1")
    s.expect(
        "list_tasks",
        {"taskArns": [task]},
        {"cluster": ANY, "desiredStatus": "RUNNING", "serviceName": "acme_worker"},
    )
    s.expect(
        "list_tasks",
        {"taskArns": []},
        {"cluster": ANY, "desiredStatus": "RUNNING", "startedBy": "app-acme"},
    )
    s.expect(
        "describe_tasks",
        {
            "tasks": [
                {
                    "taskArn": task,
                    "taskDefinitionArn": s.td("worker", 7),
                    "group": "service:acme_worker",
                    "containerInstanceArn": instance,
                    "lastStatus": "RUNNING",
                    "startedAt": WHEN,
                    "containers": [{"name": "worker"}],
                }
            ]
        },
        {"cluster": ANY, "tasks": [task], "include": ["TAGS"]},
    )
    s.expect(
        "describe_container_instances",
        {"containerInstances": [{"containerInstanceArn": instance, "ec2InstanceId": "i-0abc"}]},
        {"cluster": ANY, "containerInstances": [instance]},
    )
    s.expect(
        "describe_task_definition",
        {
            "taskDefinition": {
                "taskDefinitionArn": s.td("worker", 7),
                "containerDefinitions": [
                    {
                        "name": "worker",
                        "command": ["./bin/worker"],
                        "cpu": 256,
                        "memory": 512,
                        "ulimits": [{"name": "nproc", "softLimit": 256, "hardLimit": 256}],
                        "dockerLabels": {"empire.process": "worker", "empire.release": "v7"},
                    }
                ],
            }
        },
        {"taskDefinition": s.td("worker", 7), "include": ["TAGS"]},
    )
    (listed,) = s.scheduler.tasks("app-acme")
    assert listed.name == "v7.worker.1a2b3c4d"
    assert listed.id == "1a2b3c4d5e6f70819293a4b5c6d7e8f9"
    assert (listed.process, listed.release, listed.state) == ("worker", 7, "up")
    assert listed.host == "i-0abc"
    assert listed.command == "./bin/worker"
    assert listed.updated_at == WHEN
    assert listed.size is not None and listed.size.nproc == 256
