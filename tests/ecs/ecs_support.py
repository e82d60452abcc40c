"""Helpers of the ECS tier: the infrastructure a test gets, manifests built the way the core
builds them (`empire.manifest.build`), and readers of what exists in AWS (moto)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from empire import manifest as manifests
from empire import procfile
from empire.model import App, Config, Exposure, Release, Slug
from empire.scheduler import Manifest
from empire.scheduler.ecs import Clients, EcsConfig, EcsScheduler, make_clients
from support.services import free_port
from support.waiting import wait_for

REGION = "us-east-1"
ACCOUNT = "123456789012"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

# A configuration for the pure tests (the moto tests make theirs with `make_infra`).
CONFIG = EcsConfig(
    region="us-east-1",
    cluster="arn:aws:ecs:us-east-1:1:cluster/production",
    subnets=("subnet-a",),
    security_groups=("sg-1",),
    public_listener_arn="public",
    internal_listener_arn="internal",
    hosted_zone_id="Z1",
    task_role_arn="task",
    execution_role_arn="execution",
    log_group="/empire",
)

PROCFILE = b"""
web:
  command: ./bin/web --port $PORT
  healthcheck: {path: /health, interval: 10s, timeout: 3s, grace: 15s}
worker:
  command: ./bin/worker
clock:
  command: ./bin/tick
  cron: "*/5 * * * 1-5"
migrate:
  command: ./bin/migrate
  noservice: true
"""


class FakeTime:
    """A clock that `sleep` advances, so deadlines pass without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        config=BotoConfig(retries={"max_attempts": 1}),
        **CREDENTIALS,
    )


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """Run `moto_server` on a free loopback port; yield its URL; stop it with SIGTERM.

    Two of moto's own knobs are set on the server process: MOTO_ECS_SERVICE_RUNNING makes a
    new service's deployment report its tasks running and its rollout COMPLETED (moto starts
    no tasks), and the `ecs::task` transition is made manual so tasks stay RUNNING.
    """
    binary = Path(sys.executable).parent / "moto_server"
    port = free_port()
    env = {**os.environ, "MOTO_ECS_SERVICE_RUNNING": "1000"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out, env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:

            def answers() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"moto_server exited: see {log}")
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                return True

            wait_for(answers, 30, f"moto_server (see {log})", ignore=(OSError,))
            transition = {
                "model_name": "ecs::task",
                "transition": {"progression": "manual", "times": 1_000_000},
            }
            request = urllib.request.Request(
                f"{url}/moto-api/state-manager/set-transition",
                data=json.dumps(transition).encode(),
                method="POST",
            )
            urllib.request.urlopen(request, timeout=5).close()
            yield url
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def an_image(url: str) -> str:
    """An AMI id moto knows (listing them is slow: call once)."""
    return str(client(url, "ec2").describe_images(MaxResults=5)["Images"][0]["ImageId"])


@dataclass
class Infra:
    """The AWS resources an installation is given, made in moto, and clients to read them."""

    config: EcsConfig
    clients: Clients
    ec2: Any
    vpc: str
    internal_lb: dict[str, Any]
    public_lb: dict[str, Any]
    zone_name: str
    instance_id: str
    calls: list[tuple[str, dict[str, Any]]]

    def scheduler(self, **kwargs: Any) -> EcsScheduler:
        options: dict[str, Any] = {"deadline": 5.0, "poll_interval": 0.01, "prune_interval": 0.0}
        return EcsScheduler(self.clients, self.config, **{**options, **kwargs})

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every `operation` call the backend made (e.g. CreateService)."""
        return [params for name, params in self.calls if name == operation]

    # -- readers ------------------------------------------------------------------------------

    def services(self) -> dict[str, Any]:
        """The cluster's ACTIVE services by name, with tags."""
        ecs = self.clients.ecs
        arns = ecs.list_services(cluster=self.config.cluster, maxResults=100)["serviceArns"]
        if not arns:
            return {}
        found = ecs.describe_services(cluster=self.config.cluster, services=arns, include=["TAGS"])
        return {s["serviceName"]: s for s in found["services"] if s["status"] == "ACTIVE"}

    def task_definition(self, arn: str) -> dict[str, Any]:
        found = self.clients.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        return {**found["taskDefinition"], "tags": found.get("tags", [])}

    def active_revisions(self, family: str) -> list[str]:
        found = self.clients.ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")
        return [a.rsplit("/", 1)[-1] for a in found["taskDefinitionArns"]]

    def target_groups(self) -> dict[str, Any]:
        """This installation's target groups by name."""
        prefix = self.config.target_group_prefix()
        found = self.clients.elbv2.describe_target_groups()["TargetGroups"]
        return {g["TargetGroupName"]: g for g in found if g["TargetGroupName"].startswith(prefix)}

    def rules(self, listener: str) -> list[dict[str, Any]]:
        """The listener's rules but the default, as {hosts, target, tags}."""
        rules = self.clients.elbv2.describe_rules(ListenerArn=listener)["Rules"]
        found = []
        for rule in rules:
            if rule["IsDefault"]:
                continue
            tags = self.clients.elbv2.describe_tags(ResourceArns=[rule["RuleArn"]])
            found.append(
                {
                    "hosts": sorted(rule["Conditions"][0]["HostHeaderConfig"]["Values"]),
                    "target": rule["Actions"][0]["TargetGroupArn"],
                    "tags": {t["Key"]: t["Value"] for t in tags["TagDescriptions"][0]["Tags"]},
                }
            )
        return found

    def records(self) -> dict[tuple[str, str], Any]:
        """The zone's records but NS/SOA, by (name, type)."""
        found = self.clients.route53.list_resource_record_sets(
            HostedZoneId=self.config.hosted_zone_id
        )["ResourceRecordSets"]
        return {(r["Name"], r["Type"]): r for r in found if r["Type"] not in ("NS", "SOA")}

    def schedule_rules(self) -> dict[str, Any]:
        events = self.clients.events
        found = events.list_rules(NamePrefix=self.config.rule_prefix())["Rules"]
        rules = {}
        for rule in found:
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            tags = events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]
            rules[rule["Name"]] = {
                **rule,
                "Targets": targets,
                "Tags": {t["Key"]: t["Value"] for t in tags},
            }
        return rules


def container(task_definition: dict[str, Any]) -> dict[str, Any]:
    return dict(task_definition["containerDefinitions"][0])


def env(task_definition: dict[str, Any]) -> dict[str, str]:
    """The container's plain `environment`."""
    return {e["name"]: e["value"] for e in container(task_definition)["environment"]}


def secret_refs(task_definition: dict[str, Any]) -> dict[str, str]:
    """The container's `secrets`: name -> valueFrom."""
    return {s["name"]: s["valueFrom"] for s in container(task_definition).get("secrets", [])}


def resolved_env(infra: Infra, task_definition: dict[str, Any]) -> dict[str, str]:
    """What the container's environment would be: `environment` plus `secrets` read from
    Parameter Store (decrypted), as ECS's agent resolves them at the task's start."""
    found = dict(env(task_definition))
    for name, arn in secret_refs(task_definition).items():
        parameter = infra.clients.ssm.get_parameter(
            Name=arn.split(":parameter", 1)[-1], WithDecryption=True
        )["Parameter"]
        assert parameter["Type"] == "SecureString"
        found[name] = parameter["Value"]
    return found


def parameters(infra: Infra) -> list[str]:
    """The names of every parameter of the installation."""
    ssm = infra.clients.ssm
    path = infra.config.parameters_path()
    names: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = ssm.describe_parameters(
            ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [path]}],
            MaxResults=50,
            **token,
        )
        names += [p["Name"] for p in page["Parameters"]]
        if not page.get("NextToken"):
            return sorted(names)
        token = {"NextToken": page["NextToken"]}


def tags(items: list[dict[str, str]]) -> dict[str, str]:
    return {t.get("key", t.get("Key", "")): t.get("value", t.get("Value", "")) for t in items}


@dataclass
class AppState:
    """An app as the core would hold it, to build manifests from."""

    app: App
    image: str
    vars: dict[str, str]
    formation: dict[str, Any]
    version: int = 1
    domains: tuple[str, ...] = ()

    @classmethod
    def new(cls, name: str, app_id: str, image: str, content: bytes = PROCFILE) -> AppState:
        app = App(id=app_id, name=name, created_at=NOW, updated_at=NOW)
        formation = procfile.parse(content)
        formation = {
            n: dataclasses.replace(p, quantity=1 if n == "web" else p.quantity)
            for n, p in formation.items()
        }
        if "worker" in formation:
            formation["worker"] = dataclasses.replace(formation["worker"], quantity=1)
        if "clock" in formation:
            formation["clock"] = dataclasses.replace(formation["clock"], quantity=1)
        return cls(app, image, {}, formation)

    def manifest(self) -> Manifest:
        return manifests.build(*self._release(), self.domains)

    def phase(self) -> Manifest | None:
        """The manifest of the release phase, as the core builds it (None: no `release`)."""
        return manifests.phase(*self._release())

    def _release(self) -> tuple[App, Release]:
        exposure = Exposure.PUBLIC if self.domains else Exposure.PRIVATE
        app = dataclasses.replace(self.app, exposure=exposure)
        slug = Slug(id=f"slug-{self.version}", image=self.image, procfile=b"")
        config = Config(id=f"c{self.version}", app_id=app.id, vars=dict(self.vars), created_at=NOW)
        release = Release(
            id=f"r{self.version}",
            app_id=app.id,
            app_name=app.name,
            version=self.version,
            slug=slug,
            config=config,
            formation=dict(self.formation),
            description="",
            created_at=NOW,
            updated_at=NOW,
        )
        return app, release

    def scale(self, process: str, quantity: int) -> None:
        self.formation[process] = dataclasses.replace(self.formation[process], quantity=quantity)


def make_infra(moto_url: str, ami: str) -> Infra:
    """A fresh cluster, VPC, internal and public ALB with listeners, private zone, instance."""
    tag = uuid.uuid4().hex[:6]
    clients = make_clients(
        REGION,
        moto_url,
        access_key_id=CREDENTIALS["aws_access_key_id"],
        secret_access_key=CREDENTIALS["aws_secret_access_key"],
        max_attempts=1,
    )
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    for name in ("ecs", "elbv2", "route53", "events", "logs", "ssm"):
        getattr(clients, name).meta.events.register("provide-client-params", _recorder(record))
    ec2 = client(moto_url, "ec2")
    elbv2 = client(moto_url, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # Private hosted zones need DNS hostnames on (moto's run_task fails without it).
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName=f"empire-{tag}", Description="apps", VpcId=vpc)
    cluster = f"empire-{tag}"
    ecs = client(moto_url, "ecs")
    ecs.create_cluster(clusterName=cluster)
    balancers = {}
    for scheme in ("internal", "internet-facing"):
        lb = elbv2.create_load_balancer(
            Name=f"{scheme[:3]}-{tag}",
            Subnets=subnets,
            SecurityGroups=[group["GroupId"]],
            Scheme=scheme,
            Type="application",
        )["LoadBalancers"][0]
        listener = elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
            ],
        )["Listeners"][0]
        balancers[scheme] = {**lb, "ListenerArn": listener["ListenerArn"]}
    zone_name = f"{tag}.empire.internal"
    zone = client(moto_url, "route53").create_hosted_zone(
        Name=zone_name,
        CallerReference=tag,
        HostedZoneConfig={"PrivateZone": True, "Comment": "empire"},
        VPC={"VPCRegion": REGION, "VPCId": vpc},
    )["HostedZone"]
    instance = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.xlarge")
    instance_id = instance["Instances"][0]["InstanceId"]
    ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance_id})
    )
    client(moto_url, "logs").create_log_group(logGroupName=f"/empire/{tag}")
    config = EcsConfig(
        region=REGION,
        cluster=cluster,
        subnets=tuple(subnets),
        security_groups=(group["GroupId"],),
        public_listener_arn=balancers["internet-facing"]["ListenerArn"],
        internal_listener_arn=balancers["internal"]["ListenerArn"],
        hosted_zone_id=zone["Id"].rsplit("/", 1)[-1],
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/empire-task",
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/empire-execution",
        log_group=f"/empire/{tag}",
        events_role_arn=f"arn:aws:iam::{ACCOUNT}:role/empire-events",
    )
    return Infra(
        config=config,
        clients=clients,
        ec2=ec2,
        vpc=vpc,
        internal_lb=balancers["internal"],
        public_lb=balancers["internet-facing"],
        zone_name=zone_name,
        instance_id=instance_id,
        calls=calls,
    )


def _recorder(record: Callable[..., None]) -> Callable[..., None]:
    def handler(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        record(model, dict(params))

    return handler
