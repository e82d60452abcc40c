"""What the ECS backend is given (`EcsConfig`) and how it names and tags what it makes.

Every resource carries the tags `empire.cluster` (this installation) and `empire.app.id`;
`remove` and `prune` find resources by those tags, never by name alone. Names are derived
from the app and process names so a submit finds its own resources without a scan:

    ECS service              <app>_<process>                 (in the cluster)
    task definition family   <cluster>_<app>_<process>       (`__run`: runs, `__release`: phases)
    target group             e<h>-<app>-<process>-<h>        (32 characters at most)
    EventBridge rule         <cluster>.<app>.<process>       (64 characters at most)
    Route53 records          <app>.<zone>, <process>.<app>.<zone>, _empire.<app>.<zone> (TXT)
    SSM parameters           /empire/<cluster>/<app id>/v<release>/<NAME>  (config vars)

SSM parameters carry no tags Empire reads back: the `/empire/<cluster>/` path is this
installation's, and the app id is the path's next level.

App names never contain `_`, and process names never start with it, so `<app>_<process>`
cannot be read two ways.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from empire.errors import Invalid

# The tag keys and kinds are the scheduler contract's labels (re-exported for the ECS modules).
from empire.scheduler.labels import APP as APP
from empire.scheduler.labels import APP_ID as APP_ID
from empire.scheduler.labels import CRON as CRON
from empire.scheduler.labels import KIND as KIND
from empire.scheduler.labels import PROCESS as PROCESS
from empire.scheduler.labels import RELEASE as RELEASE
from empire.scheduler.labels import RELEASE_PHASE as RELEASE_PHASE
from empire.scheduler.labels import RUN as RUN
from empire.scheduler.labels import SERVICE as SERVICE
from empire.scheduler.labels import SPEC as SPEC

CLUSTER_TAG = "empire.cluster"  # ECS only: the cluster a resource belongs to

# The config var naming an app's own task role; it is never passed to the container.
TASK_ROLE_VAR = "EMPIRE_TASK_ROLE_ARN"
PARAMETERS_ROOT = "/empire"


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
    # Seconds a target stays draining after it left its target group, before ECS stops it
    # (EMPIRE_DRAIN_SECONDS; ELB takes whole seconds, so it is rounded up).
    drain_seconds: float = 5
    # The task roles apps may name with EMPIRE_TASK_ROLE_ARN: ARNs or fnmatch patterns
    # (`arn:aws:iam::123456789012:role/apps/*`); empty, no app has a role of its own.
    allowed_task_roles: tuple[str, ...] = ()

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

    def release_family(self, app: str) -> str:
        return _fit(f"{self.cluster_name[:100]}_{app}__release", 255)

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

    def parameters_path(self, app_id: str | None = None, release: int | None = None) -> str:
        """`/empire/<cluster>`, or an app's (`/<app id>`) or one release's (`/v<n>`) part."""
        path = f"{PARAMETERS_ROOT}/{self.cluster_name}"
        if app_id is not None:
            path += f"/{app_id}"
            if release is not None:
                path += f"/v{release}"
        return path

    def parameter_arn(self, name: str) -> str:
        """The ARN of an SSM parameter of this installation (its name, when the account is
        unknown: ECS accepts names of parameters in the task's region).

        The account and partition are the execution role's (a task's roles are in its
        account), else the cluster ARN's.
        """
        for arn in (self.execution_role_arn, self.cluster):
            parts = arn.split(":")
            if len(parts) >= 6 and parts[0] == "arn" and parts[4].isdigit():
                return f"arn:{parts[1]}:ssm:{self.region}:{parts[4]}:parameter{name}"
        return name

    def task_role(self, env: Mapping[str, str]) -> str:
        """The task role of an app: its EMPIRE_TASK_ROLE_ARN when allowed, else the default.

        Raises Invalid, naming the setting, for a role the operator did not allow.
        """
        wanted = env.get(TASK_ROLE_VAR, "").strip()
        if not wanted:
            return self.task_role_arn
        if any(fnmatch.fnmatchcase(wanted, pattern) for pattern in self.allowed_task_roles):
            return wanted
        if not self.allowed_task_roles:
            raise Invalid(
                f"{TASK_ROLE_VAR} {wanted} is not allowed: this Empire lets no app choose its "
                f"task role (the operator lists allowed roles in EMPIRE_ECS_ALLOWED_TASK_ROLES); "
                f"unset it with `emp unset {TASK_ROLE_VAR}`"
            )
        raise Invalid(
            f"{TASK_ROLE_VAR} {wanted} is not an allowed task role: use one of "
            f"{', '.join(self.allowed_task_roles)} (EMPIRE_ECS_ALLOWED_TASK_ROLES), or unset it "
            f"with `emp unset {TASK_ROLE_VAR}`"
        )

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
