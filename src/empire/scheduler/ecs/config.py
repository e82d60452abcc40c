"""What the ECS backend is given (`EcsConfig`) and how it names and tags what it makes.

Every resource carries the tags `empire.cluster` (this installation) and `empire.app.id`;
`remove` and `prune` find resources by those tags, never by name alone. Names are derived
from the app and process names so a submit finds its own resources without a scan:

    ECS service              <app>_<process>                 (in the cluster)
    task definition family   <cluster>_<app>_<process>       (<cluster>_<app>__run for runs)
    target group             e<h>-<app>-<process>-<h>        (32 characters at most)
    EventBridge rule         <cluster>.<app>.<process>       (64 characters at most)
    Route53 records          <app>.<zone>, <process>.<app>.<zone>, _empire.<app>.<zone> (TXT)

App names never contain `_`, and process names never start with it, so `<app>_<process>`
cannot be read two ways.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

CLUSTER_TAG = "empire.cluster"
APP_ID = "empire.app.id"
APP = "empire.app"
PROCESS = "empire.process"
RELEASE = "empire.release"
KIND = "empire.kind"
SPEC = "empire.spec"

SERVICE = "service"
CRON = "cron"
RUN = "run"


@dataclass(frozen=True, slots=True)
class EcsConfig:
    """The AWS resources Empire runs on; it creates everything else per app."""

    region: str
    cluster: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    public_listener_arn: str
    internal_listener_arn: str
    hosted_zone_id: str
    task_role_arn: str
    execution_role_arn: str
    log_group: str
    events_role_arn: str | None = None

    @property
    def cluster_name(self) -> str:
        """The cluster's name, also when it was given as an ARN."""
        return self.cluster.rsplit("/", 1)[-1]

    def network(self) -> dict[str, object]:
        """The awsvpc configuration of every service and task."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.subnets),
                "securityGroups": list(self.security_groups),
                "assignPublicIp": "DISABLED",
            }
        }

    # -- names --------------------------------------------------------------------------------

    def service_name(self, app: str, process: str) -> str:
        return _fit(f"{app}_{process}", 255)

    def family(self, app: str, process: str) -> str:
        return _fit(f"{self.cluster_name[:100]}_{app}_{process}", 255)

    def run_family(self, app: str) -> str:
        return _fit(f"{self.cluster_name[:100]}_{app}__run", 255)

    def family_prefix(self) -> str:
        return f"{self.cluster_name[:100]}_"

    def target_group_name(self, app_id: str, app: str, process: str) -> str:
        head = f"{self.target_group_prefix()}{app}-{_dns(process)}"[:25].rstrip("-")
        return f"{head}-{_hash(app_id, process)[:6]}"

    def target_group_prefix(self) -> str:
        return f"e{_hash(self.cluster_name)[:5]}-"

    def rule_name(self, app: str, process: str) -> str:
        return _fit(f"{self.rule_prefix()}{app}.{process}", 64)

    def rule_prefix(self) -> str:
        return f"{self.cluster_name[:20]}."

    # -- tags ---------------------------------------------------------------------------------

    def tags(self, app_id: str, app: str, **extra: str) -> dict[str, str]:
        """The tags of every resource made for the app."""
        return {CLUSTER_TAG: self.cluster_name, APP_ID: app_id, APP: app, **extra}

    def owner(self, tags: Mapping[str, str]) -> str | None:
        """The app id of a resource this installation made, else None."""
        if tags.get(CLUSTER_TAG) != self.cluster_name:
            return None
        return tags.get(APP_ID) or None


def ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags in ECS's lower-case shape."""
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def aws_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags in ELBv2's and EventBridge's shape."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def read_tags(items: object) -> dict[str, str]:
    """Read tags of either shape into a dict."""
    found: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        key = item.get("key", item.get("Key"))
        value = item.get("value", item.get("Value"))
        if isinstance(key, str) and isinstance(value, str):
            found[key] = value
    return found


def dns_label(process: str) -> str:
    """A process name as a DNS label (`my_worker` -> `my-worker`)."""
    return _dns(process)


def _dns(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-") or "p"


def _hash(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()


def _fit(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9]}-{_hash(name)[:8]}"
