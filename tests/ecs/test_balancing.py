"""The internal load balancer is the platform's discovery: drain and health checks, explicit.

botocore's Stubber on the ELBv2 client asserts the exact parameters of every call that makes
or corrects a target group; moto shows what a whole submit leaves in AWS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecs.ecs_support import ACCOUNT, CONFIG, CREDENTIALS, REGION, AppState, Infra
from empire.model import HealthCheck, Outcome
from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler.ecs import Aws, EcsConfig, make_clients
from empire.scheduler.ecs.balancers import Balancers

IMAGE = "acme/acme@sha256:" + "7" * 64
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/int/1/2"
LB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/int/1"
GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/g/3"
PROCFILE = b"""
web:
  command: ./bin/web
  healthcheck: {path: /health, interval: 15s, timeout: 3s, grace: 20s}
api:
  command: ./bin/api
  ports: ["8080"]
worker:
  command: ./bin/worker
"""


@dataclasses.dataclass
class Stubbed:
    balancers: Balancers
    stub: Stubber
    config: EcsConfig

    def missing(self, name: str) -> None:
        self.stub.add_client_error(
            "describe_target_groups",
            "TargetGroupNotFound",
            "One or more target groups not found",
            400,
            expected_params={"Names": [name]},
        )

    def internal(self) -> None:
        self.stub.add_response(
            "describe_listeners",
            {"Listeners": [{"ListenerArn": LISTENER, "LoadBalancerArn": LB, "Protocol": "HTTP"}]},
            {"ListenerArns": [LISTENER]},
        )
        self.stub.add_response(
            "describe_load_balancers",
            {
                "LoadBalancers": [
                    {
                        "LoadBalancerArn": LB,
                        "DNSName": "internal-int.elb.amazonaws.com",
                        "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K",
                        "VpcId": "vpc-1",
                    }
                ]
            },
            {"LoadBalancerArns": [LB]},
        )


def stubbed_balancers(config: EcsConfig) -> Iterator[Stubbed]:
    elbv2 = boto3.client("elbv2", region_name=REGION, **CREDENTIALS)
    clients = make_clients(
        REGION,
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )
    aws = Aws(dataclasses.replace(clients, elbv2=elbv2))
    stub = Stubber(elbv2)
    with stub:
        yield Stubbed(Balancers(aws, config), stub, config)
        stub.assert_no_pending_responses()


@pytest.fixture
def stubbed() -> Iterator[Stubbed]:
    config = dataclasses.replace(CONFIG, internal_listener_arn=LISTENER)
    yield from stubbed_balancers(config)


def web(check: HealthCheck | None) -> tuple[Manifest, ManifestProcess]:
    state = AppState.new("acme", "app-acme", IMAGE, b"web: ./bin/web\n")
    manifest = state.manifest()
    process = manifest.process("web")
    assert process is not None
    return manifest, dataclasses.replace(process, healthcheck=check)


def created(name: str, check: dict[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Name": name,
        "Protocol": "HTTP",
        "Port": 80,
        "VpcId": "vpc-1",
        "TargetType": "ip",
        "Tags": tags,
        **check,
    }


TCP_LIKE = {
    "HealthCheckEnabled": True,
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPort": "traffic-port",
    "HealthCheckPath": "/",
    "HealthCheckIntervalSeconds": 10,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "Matcher": {"HttpCode": "200-499"},
}


def test_a_new_target_group_gets_every_setting_and_the_drain(stubbed: Stubbed) -> None:
    manifest, process = web(None)
    name = stubbed.config.target_group_name("app-acme", "acme", "web")
    tags = [
        {"Key": "empire.app", "Value": "acme"},
        {"Key": "empire.app.id", "Value": "app-acme"},
        {"Key": "empire.cluster", "Value": "production"},
        {"Key": "empire.process", "Value": "web"},
    ]
    stubbed.missing(name)
    stubbed.internal()
    stubbed.stub.add_response(
        "create_target_group",
        {"TargetGroups": [{"TargetGroupArn": GROUP}]},
        created(name, TCP_LIKE, tags),
    )
    stubbed.stub.add_response(
        "modify_target_group_attributes",
        {},
        {
            "TargetGroupArn": GROUP,
            "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}],
        },
    )
    assert stubbed.balancers.ensure_target_group(manifest, process) == GROUP


def test_the_procfile_health_check_and_the_operator_drain_are_sent() -> None:
    config = dataclasses.replace(CONFIG, internal_listener_arn=LISTENER, drain_seconds=11.5)
    for s in stubbed_balancers(config):
        check = HealthCheck(type="http", path="/ready", interval=20, timeout=30, port=9000)
        manifest, process = web(check)
        name = config.target_group_name("app-acme", "acme", "web")
        s.missing(name)
        s.internal()
        s.stub.add_response(
            "create_target_group",
            {"TargetGroups": [{"TargetGroupArn": GROUP}]},
            created(
                name,
                {
                    "HealthCheckEnabled": True,
                    "HealthCheckProtocol": "HTTP",
                    "HealthCheckPort": "9000",
                    "HealthCheckPath": "/ready",
                    "HealthCheckIntervalSeconds": 20,
                    "HealthCheckTimeoutSeconds": 19,  # ELB wants it under the interval
                    "HealthyThresholdCount": 2,
                    "UnhealthyThresholdCount": 2,
                    "Matcher": {"HttpCode": "200-399"},
                },
                [
                    {"Key": "empire.app", "Value": "acme"},
                    {"Key": "empire.app.id", "Value": "app-acme"},
                    {"Key": "empire.cluster", "Value": "production"},
                    {"Key": "empire.process", "Value": "web"},
                ],
            ),
        )
        s.stub.add_response(
            "modify_target_group_attributes",
            {},
            {
                "TargetGroupArn": GROUP,
                "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "12"}],
            },
        )
        assert s.balancers.ensure_target_group(manifest, process) == GROUP


def test_an_existing_target_group_is_corrected_once(stubbed: Stubbed) -> None:
    manifest, process = web(None)
    name = stubbed.config.target_group_name("app-acme", "acme", "web")
    old = {
        **TCP_LIKE,
        "HealthCheckIntervalSeconds": 30,  # ELB's defaults, as an older Empire left them
        "HealthyThresholdCount": 5,
        "TargetGroupArn": GROUP,
        "TargetGroupName": name,
    }
    stubbed.stub.add_response("describe_target_groups", {"TargetGroups": [old]}, {"Names": [name]})
    stubbed.stub.add_response("modify_target_group", {}, {"TargetGroupArn": GROUP, **TCP_LIKE})
    stubbed.stub.add_response(
        "describe_target_group_attributes",
        {"Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}]},
        {"TargetGroupArn": GROUP},
    )
    stubbed.stub.add_response(
        "modify_target_group_attributes",
        {},
        {
            "TargetGroupArn": GROUP,
            "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}],
        },
    )
    assert stubbed.balancers.ensure_target_group(manifest, process) == GROUP

    # the next submit reads the target group only: its drain is known to be right now
    right = {**TCP_LIKE, "TargetGroupArn": GROUP, "TargetGroupName": name}
    stubbed.stub.add_response(
        "describe_target_groups", {"TargetGroups": [right]}, {"Names": [name]}
    )
    assert stubbed.balancers.ensure_target_group(manifest, process) == GROUP


def test_what_a_submit_leaves_in_aws(infra: Infra) -> None:
    scheduler = infra.scheduler()
    state = AppState.new("acme", "app-acme", IMAGE, PROCFILE)
    state.scale("api", 1)
    assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    elbv2 = infra.clients.elbv2
    groups = {n.split("-")[2]: g for n, g in infra.target_groups().items()}
    assert set(groups) == {"web", "api"}  # worker listens on nothing
    expected = {
        "web": {
            **TCP_LIKE,
            "HealthCheckPath": "/health",
            "HealthCheckIntervalSeconds": 15,
            "HealthCheckTimeoutSeconds": 3,
            "Matcher": {"HttpCode": "200-399"},
        },
        "api": TCP_LIKE,
    }
    for process, group in groups.items():
        assert {k: group.get(k) for k in TCP_LIKE} == expected[process], process
        attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
        drain = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
        assert drain["deregistration_delay.timeout_seconds"] == "5"
    created = {p["serviceName"]: p for p in infra.sent("CreateService")}
    assert created["acme_web"]["healthCheckGracePeriodSeconds"] == 20

    # an identical resubmit by a restarted Empire corrects nothing: it reads, once
    infra.calls.clear()
    state.version += 1
    assert infra.scheduler().submit(state.manifest()).outcome is Outcome.SUCCEEDED
    assert infra.sent("ModifyTargetGroup") == [] and infra.sent("ModifyTargetGroupAttributes") == []
    assert len(infra.sent("DescribeTargetGroupAttributes")) == 2
