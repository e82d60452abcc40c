"""The ECS backend against a real moto server: create → deploy → scale → config change →
rollback → domain-add → run → destroy, asserting the AWS resources after each step.

moto keeps what it is sent (task definitions, services, target groups, rules, records,
EventBridge rules and targets) but runs nothing: services start no tasks, so their
deployments are made COMPLETED by the server's MOTO_ECS_SERVICE_RUNNING (see conftest), and
`deploymentConfiguration` is dropped by CreateService (it is kept by UpdateService), so the
request is asserted for it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from ecs.ecs_support import AppState, Infra, container, env, parameters, resolved_env, tags
from empire.errors import NotFound, NotSupported
from empire.model import Outcome
from empire.scheduler import LogQuery
from empire.scheduler.ecs import ATTACHED, EcsScheduler
from empire.scheduler.ecs.services import DEPLOYMENT

IMAGE_V1 = "acme/acme@sha256:" + "1" * 64
IMAGE_V2 = "acme/acme@sha256:" + "2" * 64


def submit(scheduler: EcsScheduler, state: AppState) -> list[str]:
    lines: list[str] = []
    verdict = scheduler.submit(state.manifest(), lines.append)
    assert verdict.outcome is Outcome.SUCCEEDED, (verdict, lines)
    return lines


def family(infra: Infra, process: str, app: str = "acme") -> str:
    return infra.config.family(app, process)


def test_an_app_through_its_life(infra: Infra) -> None:
    scheduler = infra.scheduler()
    zone = infra.zone_name
    bystander = AppState.new("other", "app-other", IMAGE_V1, b"web: ./bin/other\n")
    submit(scheduler, bystander)
    before = _snapshot(infra)

    # -- create + deploy v1 -------------------------------------------------------------------
    state = AppState.new("acme", "app-acme", IMAGE_V1)
    lines = submit(scheduler, state)
    services = infra.services()
    assert {"acme_web", "acme_worker", "other_web"} == set(services)
    assert "acme_clock" not in services and "acme_migrate" not in services  # cron, noservice
    web = services["acme_web"]
    assert web["desiredCount"] == 1
    assert web["taskDefinition"].endswith(f"/{family(infra, 'web')}:1")
    assert web["launchType"] == "EC2"
    assert web["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == list(
        infra.config.subnets
    )
    assert tags(web["tags"])["empire.app.id"] == "app-acme"
    assert web["propagateTags"] == "TASK_DEFINITION"
    created = {p["serviceName"]: p for p in infra.sent("CreateService")}
    assert created["acme_web"]["deploymentConfiguration"] == {
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    assert created["acme_web"]["healthCheckGracePeriodSeconds"] == 15
    assert any("deployment COMPLETED" in line for line in lines)

    definition = infra.task_definition(web["taskDefinition"])
    box = container(definition)
    assert box["image"] == IMAGE_V1
    assert box["command"] == ["./bin/web", "--port", "80"]
    assert box["cpu"] == 256 and box["memory"] == 512
    assert box["ulimits"] == [{"name": "nproc", "softLimit": 256, "hardLimit": 256}]
    assert box["portMappings"] == [{"containerPort": 80, "protocol": "tcp"}]
    assert box["healthCheck"]["command"][0] == "CMD-SHELL"
    assert (
        "wget -q -T 3 -O /dev/null http://127.0.0.1:80/health" in box["healthCheck"]["command"][1]
    )
    assert (box["healthCheck"]["interval"], box["healthCheck"]["startPeriod"]) == (10, 15)
    assert box["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": infra.config.log_group,
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "acme",
        },
    }
    assert box["dockerLabels"]["empire.app.id"] == "app-acme"
    assert box["dockerLabels"]["empire.process"] == "web"
    assert env(definition)["EMPIRE_RELEASE"] == "v1" and env(definition)["PORT"] == "80"
    assert definition["networkMode"] == "awsvpc"
    assert definition["taskRoleArn"] == infra.config.task_role_arn
    assert definition["executionRoleArn"] == infra.config.execution_role_arn
    assert tags(definition["tags"])["empire.app.id"] == "app-acme"
    worker = infra.task_definition(services["acme_worker"]["taskDefinition"])
    assert "healthCheck" not in container(worker) and container(worker)["portMappings"] == []
    assert services["acme_worker"]["loadBalancers"] == []

    groups = {n: g for n, g in infra.target_groups().items() if "-acme-" in n}
    assert len(groups) == 1
    (group,) = groups.values()
    assert (group["Port"], group["TargetType"], group["HealthCheckPath"]) == (80, "ip", "/health")
    assert group["VpcId"] == infra.vpc
    assert web["loadBalancers"] == [
        {"targetGroupArn": group["TargetGroupArn"], "containerName": "web", "containerPort": 80}
    ]
    internal = [
        r for r in infra.rules(infra.config.internal_listener_arn) if "acme" in r["hosts"][0]
    ]
    assert internal == [
        {
            "hosts": [f"acme.{zone}", f"web.acme.{zone}"],
            "target": group["TargetGroupArn"],
            "tags": {
                "empire.app": "acme",
                "empire.app.id": "app-acme",
                "empire.cluster": infra.config.cluster,
            },
        }
    ]
    assert infra.rules(infra.config.public_listener_arn) == []
    records = infra.records()
    for name in (f"acme.{zone}.", f"web.acme.{zone}."):
        alias = records[(name, "A")]["AliasTarget"]
        assert alias["DNSName"] == infra.internal_lb["DNSName"]
    assert (f"worker.acme.{zone}.", "A") not in records
    assert (
        "empire.app.id=app-acme"
        in records[(f"_empire.acme.{zone}.", "TXT")]["ResourceRecords"][0]["Value"]
    )

    rules = infra.schedule_rules()
    clock = rules[infra.config.rule_name("acme", "clock")]
    assert clock["ScheduleExpression"] == "cron(*/5 * ? * MON-FRI *)"
    assert clock["State"] == "ENABLED"
    target = clock["Targets"][0]
    assert target["RoleArn"] == infra.config.events_role_arn
    assert target["EcsParameters"]["TaskDefinitionArn"].endswith(f"/{family(infra, 'clock')}:1")
    assert target["EcsParameters"]["TaskCount"] == 1
    assert clock["Tags"]["empire.app.id"] == "app-acme"

    # an identical submit (the reconciler's) changes nothing and costs one call
    infra.calls.clear()
    assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    assert [name for name, _ in infra.calls] == ["DescribeServices"]

    # -- scale ---------------------------------------------------------------------------------
    state.scale("web", 3)
    infra.calls.clear()
    submit(scheduler, state)
    services = infra.services()
    assert services["acme_web"]["desiredCount"] == 3
    assert services["acme_web"]["taskDefinition"].endswith(":1")
    assert infra.sent("RegisterTaskDefinition") == []
    assert [p.get("desiredCount") for p in infra.sent("UpdateService")] == [3, None]

    # -- config change (v2) ---------------------------------------------------------------------
    state.version, state.vars = 2, {"FOO": "bar"}
    submit(scheduler, state)
    services = infra.services()
    definition = infra.task_definition(services["acme_web"]["taskDefinition"])
    assert services["acme_web"]["taskDefinition"].endswith(f"/{family(infra, 'web')}:2")
    assert "FOO" not in env(definition) and env(definition)["EMPIRE_RELEASE"] == "v2"
    assert resolved_env(infra, definition)["FOO"] == "bar"
    assert parameters(infra) == [f"{infra.config.parameters_path('app-acme', 2)}/FOO"]
    assert services["acme_web"]["desiredCount"] == 3
    assert services["acme_web"]["deploymentConfiguration"] == DEPLOYMENT
    assert infra.active_revisions(family(infra, "web")) == [f"{family(infra, 'web')}:2"]
    assert infra.active_revisions(family(infra, "clock")) == [f"{family(infra, 'clock')}:2"]

    # -- a new image, then rollback to v1 (v4 = v1's image and config) ---------------------------
    state.version, state.image = 3, IMAGE_V2
    submit(scheduler, state)
    assert (
        container(infra.task_definition(infra.services()["acme_web"]["taskDefinition"]))["image"]
        == IMAGE_V2
    )
    state.version, state.image, state.vars = 4, IMAGE_V1, {}
    submit(scheduler, state)
    definition = infra.task_definition(infra.services()["acme_web"]["taskDefinition"])
    assert container(definition)["image"] == IMAGE_V1
    assert "FOO" not in resolved_env(infra, definition)
    assert env(definition)["EMPIRE_RELEASE"] == "v4"
    assert parameters(infra) == []  # v2's parameters went with v3's rollout
    assert infra.active_revisions(family(infra, "web")) == [f"{family(infra, 'web')}:4"]

    # -- domain-add: the app becomes public; only a listener rule changes -----------------------
    state.domains = ("acme.example.com", "www.acme.example.com")
    infra.calls.clear()
    submit(scheduler, state)
    public = infra.rules(infra.config.public_listener_arn)
    assert public == [
        {
            "hosts": ["acme.example.com", "www.acme.example.com"],
            "target": group["TargetGroupArn"],
            "tags": internal[0]["tags"],
        }
    ]
    assert infra.sent("RegisterTaskDefinition") == [] and infra.sent("UpdateService") == []
    assert infra.services()["acme_web"]["taskDefinition"].endswith(":4")
    state.domains = ("acme.example.com", "www.acme.example.com", "a.example.com", "b.example.com")
    submit(scheduler, state)
    hosts = sorted(h for r in infra.rules(infra.config.public_listener_arn) for h in r["hosts"])
    assert len(infra.rules(infra.config.public_listener_arn)) == 2  # three hosts a rule at most
    assert hosts == sorted(state.domains)
    state.domains = ()
    submit(scheduler, state)
    assert infra.rules(infra.config.public_listener_arn) == []

    # -- run: a detached one-off with run_task, listed by ps with its host; attached refused -----
    manifest = state.manifest()
    process = manifest.process("migrate")
    assert process is not None
    task = scheduler.run(manifest, process)
    assert task.name.startswith("v4.run.") and task.process == "migrate"
    assert task.host == infra.instance_id and task.state == "up"
    assert task.command == "./bin/migrate"
    ran = infra.sent("RunTask")[0]
    assert ran["startedBy"] == "app-acme" and ran["launchType"] == "EC2"
    assert infra.active_revisions(infra.config.run_family("acme")) == []  # deregistered at once
    listed = scheduler.tasks("app-acme")
    assert [t.name for t in listed] == [task.name]
    assert listed[0].size is not None and listed[0].size.memory == 512 * 1024 * 1024
    with pytest.raises(NotSupported, match="use emp run -d"):
        scheduler.attach(manifest, process, tty=True)
    assert ATTACHED.startswith("attached runs are not supported on the ECS backend yet")
    scheduler.stop("app-acme", task.name)
    assert (
        infra.clients.ecs.describe_tasks(cluster=infra.config.cluster, tasks=[task.id])["tasks"][0][
            "lastStatus"
        ]
        == "STOPPED"
    )
    with pytest.raises(NotFound):
        scheduler.stop("app-acme", "v4.web.nothere")

    # -- a process leaves the Procfile: its service, rule and records go ------------------------
    del state.formation["worker"], state.formation["clock"]
    state.version = 5
    submit(scheduler, state)
    assert "acme_worker" not in infra.services()
    assert infra.config.rule_name("acme", "clock") not in infra.schedule_rules()
    assert infra.active_revisions(family(infra, "worker")) == []

    # -- destroy: everything the app had goes; the other app keeps all of its resources --------
    scheduler.run(manifest, process)
    scheduler.remove("app-acme")
    assert _snapshot(infra) == before
    assert scheduler.tasks("app-acme") == []


def test_prune_removes_only_apps_not_kept(infra: Infra) -> None:
    scheduler = infra.scheduler()
    keep = AppState.new("keep", "app-keep", IMAGE_V1)
    gone = AppState.new("gone", "app-gone", IMAGE_V1)
    submit(scheduler, keep)
    submit(scheduler, gone)
    unrelated = infra.clients.elbv2.create_target_group(
        Name=f"{infra.config.target_group_prefix()}someone-else",
        Protocol="HTTP",
        Port=80,
        VpcId=infra.vpc,
        TargetType="ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    scheduler.prune({"app-keep"})  # it submitted "gone" itself: that app is alive to it
    assert "gone_web" in infra.services()
    infra.scheduler().prune({"app-keep"})  # after a restart, "gone" was destroyed while away
    assert set(infra.services()) == {"keep_web", "keep_worker"}
    assert all("-gone-" not in n for n in infra.target_groups())
    assert unrelated in {g["TargetGroupArn"] for g in infra.target_groups().values()}
    assert [r["hosts"][0] for r in infra.rules(infra.config.internal_listener_arn)] == [
        f"keep.{infra.zone_name}"
    ]
    assert {name for name, _ in infra.records()} == {
        f"keep.{infra.zone_name}.",
        f"web.keep.{infra.zone_name}.",
        f"_empire.keep.{infra.zone_name}.",
    }
    assert list(infra.schedule_rules()) == [infra.config.rule_name("keep", "clock")]
    assert infra.active_revisions(infra.config.family("gone", "web")) == []
    assert infra.active_revisions(infra.config.family("keep", "web")) != []


def test_logs_come_from_cloudwatch(infra: Infra) -> None:
    scheduler = infra.scheduler()
    state = AppState.new("acme", "app-logs", IMAGE_V1)
    submit(scheduler, state)
    logs = infra.clients.logs
    group = infra.config.log_group
    now = int(time.time() * 1000) - 60_000
    for stream, lines, offset in (
        ("acme/web/0123456789abcdef", ["listening on 80", "GET /health 200"], 0),
        ("acme/worker/fedcba9876543210", ["working"], 1),
        ("other/web/aaaaaaaaaaaaaaaa", ["not ours"], 0),
    ):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[
                {"timestamp": now + 2 * i + offset, "message": line} for i, line in enumerate(lines)
            ],
        )
    every = list(scheduler.logs("app-logs", LogQuery()))
    assert [line.split(" ", 1)[1] for line in every] == [
        "acme[web.01234567]: listening on 80",
        "acme[worker.fedcba98]: working",
        "acme[web.01234567]: GET /health 200",
    ]
    web = list(scheduler.logs("app-logs", LogQuery(process="web", lines=1)))
    assert [line.split(" ", 1)[1] for line in web] == ["acme[web.01234567]: GET /health 200"]


def _snapshot(infra: Infra) -> dict[str, Any]:
    """Every resource of the installation, to compare before and after."""
    return {
        "services": sorted(infra.services()),
        "target_groups": sorted(infra.target_groups()),
        "internal": infra.rules(infra.config.internal_listener_arn),
        "public": infra.rules(infra.config.public_listener_arn),
        "records": sorted(infra.records()),
        "schedules": sorted(infra.schedule_rules()),
        "parameters": parameters(infra),
        "task_definitions": sorted(
            revision
            for family in infra.clients.ecs.list_task_definition_families(
                familyPrefix=infra.config.family_prefix(), status="ACTIVE"
            )["families"]  # moto lists every family, ACTIVE revisions or not
            for revision in infra.active_revisions(family)
        ),
    }


def test_restart_and_maintenance(infra: Infra) -> None:
    scheduler = infra.scheduler()
    state = AppState.new("acme", "app-restart", IMAGE_V1)
    submit(scheduler, state)
    infra.calls.clear()
    lines: list[str] = []
    assert scheduler.restart(state.manifest(), "web", lines.append).outcome is Outcome.SUCCEEDED
    assert infra.sent("UpdateService") == [
        {"cluster": infra.config.cluster, "service": "acme_web", "forceNewDeployment": True}
    ]
    assert infra.sent("RegisterTaskDefinition") == []
    with pytest.raises(NotFound, match="no process type 'nope'"):
        scheduler.restart(state.manifest(), "nope")

    # maintenance: every quantity is 0 and the schedule is disabled
    state.app = dataclasses.replace(state.app, maintenance=True)
    submit(scheduler, state)
    services = infra.services()
    assert {n: s["desiredCount"] for n, s in services.items()} == {"acme_web": 0, "acme_worker": 0}
    assert infra.schedule_rules()[infra.config.rule_name("acme", "clock")]["State"] == "DISABLED"


def test_cron_without_an_events_role_fails_with_the_setting_named(infra: Infra) -> None:
    config = dataclasses.replace(infra.config, events_role_arn=None)
    scheduler = EcsScheduler(infra.clients, config, deadline=1, poll_interval=0.01)
    verdict = scheduler.submit(AppState.new("acme", "app-cron", IMAGE_V1).manifest())
    assert verdict.outcome is Outcome.FAILED
    assert verdict.reason.startswith("clock: cron processes need EMPIRE_ECS_EVENTS_ROLE_ARN")
    assert infra.services() == {}  # nothing was made
