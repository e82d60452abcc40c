"""ALB routing: a target group per process with ports, host-header rules on shared listeners.

Each exposed process (one with ports) gets a target group (targets by IP, as awsvpc tasks
have their own address) and a rule on the internal listener for `<app>.<zone>` (web only)
and `<process>.<app>.<zone>`. A public app's web target group also gets rules on the public
listener for its domains. Both rules forward to the same target group, so adding or removing
the last domain touches only a listener rule: the service and its tasks stay as they are.

A rule takes at most three host names (ALB's limit per condition), so domains are spread
over as many rules as they need. Priorities are the lowest free ones; a race with another
writer (`PriorityInUse`) is retried with fresh ones.

The internal ALB is the platform's discovery (`http://<app>`): a target receives requests
only once its health check passes, and leaves by draining. Every setting of both is sent
explicitly rather than left to ELB's defaults: the deregistration delay is the operator's
drain (`EcsConfig.drain_seconds`, EMPIRE_DRAIN_SECONDS), so a task that stops finishes its
in-flight requests first and ECS stops it only after; the health check follows the
Procfile's (path, interval, timeout; HTTP 200-399 on the path) and, without one, any HTTP
answer on `/` counts, the nearest an ALB comes to a TCP check. A target group found with
other settings is corrected: its health check on every submit that reads it, its
deregistration delay once per target group and scheduler lifetime.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler.ecs.aws import Aws, AwsError
from empire.scheduler.ecs.config import PROCESS, EcsConfig, aws_tags, dns_label

HOSTS_PER_RULE = 3
DRAIN = "deregistration_delay.timeout_seconds"
HEALTHY_THRESHOLD = 2  # consecutive passes before a target gets traffic
UNHEALTHY_THRESHOLD = 2  # consecutive failures before it loses it
DEFAULT_INTERVAL = 10  # seconds, without a Procfile health check
DEFAULT_TIMEOUT = 5


@dataclass(frozen=True, slots=True)
class Rule:
    arn: str
    priority: int
    target_group: str
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Balancer:
    """The internal load balancer the private-zone records point at."""

    dns_name: str
    zone_id: str
    vpc_id: str


class Balancers:
    """Target groups and listener rules."""

    def __init__(self, aws: Aws, config: EcsConfig) -> None:
        self._aws = aws
        self._config = config
        self._internal: Balancer | None = None
        self._protocols: dict[str, str] = {}
        self._drained: set[str] = set()  # target groups whose drain is known to be right
        self._guard = threading.Lock()

    def internal(self) -> Balancer:
        """The internal ALB behind the internal listener (looked up once)."""
        with self._guard:
            if self._internal is None:
                listener = self._listener(self._config.internal_listener_arn)
                found = self._aws.must(
                    "describe the internal load balancer",
                    self._aws.elbv2.describe_load_balancers,
                    LoadBalancerArns=[listener["LoadBalancerArn"]],
                )
                lb = found["LoadBalancers"][0]
                self._internal = Balancer(
                    lb["DNSName"], lb["CanonicalHostedZoneId"], lb.get("VpcId", "")
                )
            return self._internal

    # -- target groups -------------------------------------------------------------------------

    def ensure_target_group(self, manifest: Manifest, process: ManifestProcess) -> str:
        """The process's target group, created (or its health check and drain corrected)."""
        name = self._config.target_group_name(manifest.app_id, manifest.app_name, process.name)
        check = target_health(process)
        found = self._aws.call(
            f"describe target group {name}",
            self._aws.elbv2.describe_target_groups,
            ok=("TargetGroupNotFound",),
            Names=[name],
        )
        if found and found["TargetGroups"]:
            group = found["TargetGroups"][0]
            arn = str(group["TargetGroupArn"])
            if any(group.get(k) != v for k, v in check.items()):
                self._aws.must(
                    f"update the health check of target group {name}",
                    self._aws.elbv2.modify_target_group,
                    TargetGroupArn=arn,
                    **check,
                )
            self._ensure_drain(name, arn)
            return arn
        tags = self._config.tags(manifest.app_id, manifest.app_name, **{PROCESS: process.name})
        created = self._aws.must(
            f"create target group {name}",
            self._aws.elbv2.create_target_group,
            Name=name,
            Protocol="HTTP",
            Port=process.ports[0].container,
            VpcId=self.internal().vpc_id,
            TargetType="ip",
            Tags=aws_tags(tags),
            **check,
        )
        arn = str(created["TargetGroups"][0]["TargetGroupArn"])
        self._set_drain(name, arn)
        return arn

    def _ensure_drain(self, name: str, arn: str) -> None:
        """Correct the deregistration delay of a target group seen for the first time."""
        with self._guard:
            if arn in self._drained:
                return
        found = self._aws.must(
            f"read the attributes of target group {name}",
            self._aws.elbv2.describe_target_group_attributes,
            TargetGroupArn=arn,
        )
        have = {str(a.get("Key")): str(a.get("Value")) for a in found.get("Attributes", [])}
        if have.get(DRAIN) != str(self._drain()):
            self._set_drain(name, arn)
        else:
            with self._guard:
                self._drained.add(arn)

    def _set_drain(self, name: str, arn: str) -> None:
        self._aws.must(
            f"set the deregistration delay of target group {name}",
            self._aws.elbv2.modify_target_group_attributes,
            TargetGroupArn=arn,
            Attributes=[{"Key": DRAIN, "Value": str(self._drain())}],
        )
        with self._guard:
            self._drained.add(arn)

    def _drain(self) -> int:
        return max(0, min(3600, math.ceil(self._config.drain_seconds)))  # ELB's range

    def delete_target_group(self, arn: str) -> None:
        self._aws.call(
            f"delete target group {arn.rsplit('/', 2)[-2]}",
            self._aws.elbv2.delete_target_group,
            ok=("TargetGroupNotFound",),
            TargetGroupArn=arn,
        )

    # -- rules --------------------------------------------------------------------------------

    def rules(self, listener: str) -> list[Rule]:
        """The listener's forwarding rules (not the default one)."""
        found: list[Rule | None] = []
        for page in self._aws.pages(
            "list the listener's rules",
            self._aws.elbv2.describe_rules,
            "Marker",
            "NextMarker",
            ListenerArn=listener,
        ):
            found.extend(_rule(r) for r in page["Rules"] if not r.get("IsDefault"))
        return [r for r in found if r is not None]

    def converge(
        self,
        listener: str,
        wanted: Mapping[str, Sequence[str]],
        owned: set[str],
        tags: dict[str, str],
    ) -> None:
        """Make the rules forwarding to target groups in `owned` match `wanted`.

        `wanted` maps a target group to its host names; a target group in `owned` but not in
        `wanted` loses its rules.
        """
        existing = self.rules(listener)
        used = {r.priority for r in existing}
        for group in sorted(owned | set(wanted)):
            have = sorted((r for r in existing if r.target_group == group), key=_priority)
            hosts = list(wanted.get(group, ()))
            batches = [
                tuple(hosts[i : i + HOSTS_PER_RULE]) for i in range(0, len(hosts), HOSTS_PER_RULE)
            ]
            for rule, batch in zip(have, batches, strict=False):
                if sorted(rule.hosts) != sorted(batch):
                    self._aws.must(
                        "update a listener rule",
                        self._aws.elbv2.modify_rule,
                        RuleArn=rule.arn,
                        Conditions=_hosts(batch),
                    )
            for rule in have[len(batches) :]:
                self.delete_rule(rule.arn)
            for batch in batches[len(have) :]:
                used.add(self._create(listener, group, batch, used, tags))

    def delete_rule(self, arn: str) -> None:
        self._aws.call(
            "delete a listener rule",
            self._aws.elbv2.delete_rule,
            ok=("RuleNotFound",),
            RuleArn=arn,
        )

    def add_certificate(self, listener: str, certificate: str) -> None:
        """Attach an ACM/IAM certificate (an ARN) to an HTTPS listener, for SNI."""
        if not certificate.startswith("arn:") or self._protocol(listener) != "HTTPS":
            return
        self._aws.must(
            "add the app's certificate to the public listener",
            self._aws.elbv2.add_listener_certificates,
            ListenerArn=listener,
            Certificates=[{"CertificateArn": certificate}],
        )

    def _create(
        self,
        listener: str,
        group: str,
        hosts: tuple[str, ...],
        used: set[int],
        tags: dict[str, str],
    ) -> int:
        for _ in range(5):
            priority = next(p for p in range(1, 50001) if p not in used)
            try:
                self._aws.must(
                    "create a listener rule",
                    self._aws.elbv2.create_rule,
                    ListenerArn=listener,
                    Priority=priority,
                    Conditions=_hosts(hosts),
                    Actions=[{"Type": "forward", "TargetGroupArn": group}],
                    Tags=aws_tags(tags),
                )
                return priority
            except AwsError as e:
                if e.code != "PriorityInUse":
                    raise
                used.update(r.priority for r in self.rules(listener))
        raise AwsError("cannot create a listener rule: no free priority after 5 tries")

    def _listener(self, arn: str) -> Any:
        found = self._aws.must(
            "describe a listener", self._aws.elbv2.describe_listeners, ListenerArns=[arn]
        )
        listener = found["Listeners"][0]
        self._protocols[arn] = str(listener.get("Protocol", ""))
        return listener

    def _protocol(self, arn: str) -> str:
        if arn not in self._protocols:
            self._listener(arn)
        return self._protocols[arn]


def internal_hosts(manifest: Manifest, process: ManifestProcess, zone: str) -> list[str]:
    """`<process>.<app>.<zone>`, and `<app>.<zone>` first for web."""
    hosts = [f"{dns_label(process.name)}.{manifest.app_name}.{zone}"]
    if process.name == "web":
        hosts.insert(0, f"{manifest.app_name}.{zone}")
    return hosts


def target_health(process: ManifestProcess) -> dict[str, Any]:
    """The target group's health check settings, every one explicit.

    From the Procfile's health check when there is one (path, port, interval, timeout, in
    ELB's ranges); else, as for a TCP check, any HTTP answer on `/` means the process listens.
    """
    check = process.healthcheck
    http = check is not None and check.type == "http"
    interval = int(max(5, min(300, check.interval if check else DEFAULT_INTERVAL)))
    timeout = int(max(2, min(interval - 1, 120, check.timeout if check else DEFAULT_TIMEOUT)))
    port = "traffic-port"
    if check is not None and check.port and check.port != process.ports[0].container:
        port = str(check.port)
    return {
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": port,
        "HealthCheckPath": check.path if check is not None and http else "/",
        "HealthCheckIntervalSeconds": interval,
        "HealthCheckTimeoutSeconds": timeout,
        "HealthyThresholdCount": HEALTHY_THRESHOLD,
        "UnhealthyThresholdCount": UNHEALTHY_THRESHOLD,
        # Without an HTTP check any answer means the process listens.
        "Matcher": {"HttpCode": "200-399" if http else "200-499"},
    }


def _rule(raw: Any) -> Rule | None:
    forward = [a for a in raw.get("Actions", []) if a.get("Type") == "forward"]
    group = forward[0].get("TargetGroupArn") if forward else None
    if not group:
        return None
    hosts: list[str] = []
    for condition in raw.get("Conditions", []):
        if condition.get("Field") == "host-header":
            config = condition.get("HostHeaderConfig") or {}
            hosts.extend(config.get("Values") or condition.get("Values") or [])
    return Rule(raw["RuleArn"], int(raw["Priority"]), str(group), tuple(hosts))


def _hosts(hosts: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Field": "host-header", "HostHeaderConfig": {"Values": list(hosts)}}]


def _priority(rule: Rule) -> int:
    return rule.priority
