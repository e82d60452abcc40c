"""Find everything this installation made, by tag, and delete an app's share of it.

`scan` reads the cluster's services, the listeners' rules, the target groups with this
installation's name prefix, the schedule rules with its prefix, the task definition families
with its prefix, the zone's record anchors and the SSM parameters under its path, and groups
what carries this cluster's `empire.cluster` tag by `empire.app.id`. Nothing without both
tags (or, for records, an anchor of this cluster; for parameters, this installation's path)
is ever deleted. A scan costs a few calls per hundred resources; `remove` and `prune` use
it, submits do not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from empire.scheduler.ecs.aws import Aws, chunks
from empire.scheduler.ecs.balancers import Balancers
from empire.scheduler.ecs.config import EcsConfig
from empire.scheduler.ecs.cron import Cron
from empire.scheduler.ecs.parameters import Parameters
from empire.scheduler.ecs.records import Anchor, Records
from empire.scheduler.ecs.services import Services
from empire.scheduler.ecs.taskdefs import TaskDefinitions


@dataclass(slots=True)
class Found:
    """One app's resources."""

    services: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    target_groups: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    task_definitions: list[str] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.services,
                self.rules,
                self.target_groups,
                self.schedules,
                self.task_definitions,
                self.anchors,
                self.parameters,
            )
        )


class Inventory:
    def __init__(
        self,
        aws: Aws,
        config: EcsConfig,
        services: Services,
        balancers: Balancers,
        records: Records,
        cron: Cron,
        taskdefs: TaskDefinitions,
        parameters: Parameters,
    ) -> None:
        self._aws = aws
        self._parameters = parameters
        self._config = config
        self._services = services
        self._balancers = balancers
        self._records = records
        self._cron = cron
        self._taskdefs = taskdefs

    def scan(self) -> dict[str, Found]:
        found: dict[str, Found] = defaultdict(Found)
        for name, (owner, _) in self._services.owned().items():
            found[owner].services.append(name)
        listeners = (self._config.internal_listener_arn, self._config.public_listener_arn)
        rules = [r.arn for listener in listeners for r in self._balancers.rules(listener)]
        for arn, owner in self._elb_owners(rules).items():
            found[owner].rules.append(arn)
        for arn, owner in self._elb_owners(self._target_groups()).items():
            found[owner].target_groups.append(arn)
        for name, arn in self._cron.listed(self._config.rule_prefix()):
            rule_owner = self._config.owner(self._cron.tags(arn))
            if rule_owner is not None:
                found[rule_owner].schedules.append(name)
        for arn in self._task_definitions():
            described = self._taskdefs.describe(arn) or {}
            family_owner = self._config.owner(_ecs_tags(described.get("tags")))
            if family_owner is not None:
                found[family_owner].task_definitions.append(arn)
        for anchor in self._records.anchors():
            found[anchor.app_id].anchors.append(anchor)
        for app_id, names in self._parameters.by_app().items():
            found[app_id].parameters.extend(names)
        return dict(found)

    def delete(self, found: Found) -> None:
        """Delete in dependency order: schedules, rules, services, target groups, the rest
        (config parameters last: a task definition left behind still finds them)."""
        for name in found.schedules:
            self._cron.delete(name)
        for arn in found.rules:
            self._balancers.delete_rule(arn)
        for name in found.services:
            self._services.delete(name)
        for arn in found.target_groups:
            self._balancers.delete_target_group(arn)
        for arn in found.task_definitions:
            self._taskdefs.deregister(arn)
        for batch in chunks(found.task_definitions, 10):
            self._aws.call(
                "delete the app's task definitions",
                self._aws.ecs.delete_task_definitions,
                ok=("ClientException", "InvalidParameterException"),
                taskDefinitions=batch,
            )
        for anchor in found.anchors:
            self._records.delete(anchor)
        self._parameters.delete(found.parameters)

    def stop_runs(self, app_id: str) -> None:
        """Stop the app's one-off tasks still running."""
        for page in self._aws.pages(
            "list the app's one-off tasks",
            self._aws.ecs.list_tasks,
            "nextToken",
            "nextToken",
            cluster=self._config.cluster,
            startedBy=app_id,
        ):
            for arn in page.get("taskArns", []):
                self._aws.call(
                    "stop a one-off task",
                    self._aws.ecs.stop_task,
                    ok=("InvalidParameterException",),
                    cluster=self._config.cluster,
                    task=arn,
                    reason="the app was destroyed",
                )

    def _elb_owners(self, arns: list[str]) -> dict[str, str]:
        owners = {}
        for batch in chunks(arns, 20):
            page = self._aws.must(
                "read load balancer tags", self._aws.elbv2.describe_tags, ResourceArns=batch
            )
            for item in page.get("TagDescriptions", []):
                tags = {str(t["Key"]): str(t["Value"]) for t in item.get("Tags", [])}
                owner = self._config.owner(tags)
                if owner is not None:
                    owners[str(item["ResourceArn"])] = owner
        return owners

    def _target_groups(self) -> list[str]:
        prefix = self._config.target_group_prefix()
        arns = []
        for page in self._aws.pages(
            "list target groups",
            self._aws.elbv2.describe_target_groups,
            "Marker",
            "NextMarker",
            PageSize=400,
        ):
            for group in page.get("TargetGroups", []):
                if str(group["TargetGroupName"]).startswith(prefix):
                    arns.append(str(group["TargetGroupArn"]))
        return arns

    def _task_definitions(self) -> list[str]:
        families = []
        for page in self._aws.pages(
            "list task definition families",
            self._aws.ecs.list_task_definition_families,
            "nextToken",
            "nextToken",
            familyPrefix=self._config.family_prefix(),
            status="ACTIVE",
        ):
            families += page.get("families", [])
        arns = []
        for family in families:
            for page in self._aws.pages(
                f"list the revisions of {family}",
                self._aws.ecs.list_task_definitions,
                "nextToken",
                "nextToken",
                familyPrefix=family,
                status="ACTIVE",
            ):
                arns += page.get("taskDefinitionArns", [])
        return arns


def _ecs_tags(items: object) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {str(t["key"]): str(t["value"]) for t in items}
