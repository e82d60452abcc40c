"""Scheduled processes as EventBridge rules that run the process's task definition.

Empire's six-field AWS form (`0 12 * * ? *`, with or without `cron(...)`) passes through.
The five-field form (`*/5 * * * *`) gets a `?` in one of its day fields, weekday numbers
become names (cron's 0 = Sunday, AWS's 1 = Sunday), and a year `*`. A rule is enabled
while the process's quantity is above zero (maintenance disables it) and starts `quantity`
tasks, tagged with the app and `empire.kind=cron`.
"""

from __future__ import annotations

import re
from typing import Any

from empire.errors import Invalid
from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler.ecs.aws import Aws
from empire.scheduler.ecs.config import CRON, KIND, PROCESS, EcsConfig, aws_tags

_WRAPPED = re.compile(r"^cron\((?P<expr>.*)\)$", re.IGNORECASE)
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
TARGET_ID = "empire"


def expression(schedule: str) -> str:
    """The EventBridge `cron(...)` expression of an Empire schedule; Invalid when wrong."""
    text = schedule.strip()
    match = _WRAPPED.match(text)
    fields = (match.group("expr") if match else text).split()
    if len(fields) == 6:
        return f"cron({' '.join(fields)})"
    if len(fields) != 5:
        raise Invalid(
            f'invalid cron schedule "{schedule}": use 5 fields (*/5 * * * *) or '
            "AWS's 6 (0 12 * * ? *)"
        )
    minute, hour, dom, month, dow = fields
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom = "?"
    else:
        raise Invalid(
            f'invalid cron schedule "{schedule}": EventBridge cannot match both a day of the '
            "month and a day of the week; set one of them to *"
        )
    if dow != "?":
        dow = re.sub(r"\d+", lambda m: _day(m.group(0), schedule), dow)
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def _day(number: str, schedule: str) -> str:
    value = int(number)
    if value > 7:
        raise Invalid(f'invalid cron schedule "{schedule}": day of week {value} is not 0-7')
    return _DAYS[value]


class Cron:
    """Puts and deletes the app's EventBridge rules."""

    def __init__(self, aws: Aws, config: EcsConfig) -> None:
        self._aws = aws
        self._config = config

    def put(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        task_definition: str,
        current: dict[str, Any] | None,
    ) -> None:
        """Create or update the rule and its ECS target (`current`), writing only changes."""
        if not self._config.events_role_arn:
            raise Invalid(
                f"{process.name}: cron processes need EMPIRE_ECS_EVENTS_ROLE_ARN, a role "
                "EventBridge assumes to run tasks (ecs:RunTask, iam:PassRole)"
            )
        name = self._config.rule_name(manifest.app_name, process.name)
        tags = self._config.tags(
            manifest.app_id, manifest.app_name, **{PROCESS: process.name, KIND: CRON}
        )
        rule = {
            "ScheduleExpression": expression(process.schedule or ""),
            "State": "ENABLED" if process.quantity > 0 else "DISABLED",
        }
        if current is None or self._rule(name) != rule:
            self._aws.must(
                f"put the schedule rule of {process.name}",
                self._aws.events.put_rule,
                Name=name,
                Description=f"empire: {manifest.app_name} {process.name}",
                Tags=aws_tags(tags),
                **rule,
            )
        parameters = (current or {}).get("EcsParameters") or {}
        count = max(process.quantity, 1)
        if (parameters.get("TaskDefinitionArn"), parameters.get("TaskCount")) == (
            task_definition,
            count,
        ):
            return
        target: dict[str, Any] = {
            "Id": TARGET_ID,
            "Arn": self._cluster_arn(task_definition),
            "RoleArn": self._config.events_role_arn,
            "EcsParameters": {
                "TaskDefinitionArn": task_definition,
                "TaskCount": count,
                "LaunchType": "EC2",
                "NetworkConfiguration": {
                    "awsvpcConfiguration": {
                        "Subnets": list(self._config.subnets),
                        "SecurityGroups": list(self._config.security_groups),
                        "AssignPublicIp": "DISABLED",
                    }
                },
                "EnableECSManagedTags": True,
                "PropagateTags": "TASK_DEFINITION",
                "Tags": aws_tags(tags),
            },
        }
        found = self._aws.must(
            f"point the schedule rule of {process.name} at its task definition",
            self._aws.events.put_targets,
            Rule=name,
            Targets=[target],
        )
        if found.get("FailedEntryCount"):
            failed = found.get("FailedEntries") or [{}]
            raise Invalid(f"{process.name}: EventBridge refused the target: {failed[0]}")

    def current(self, app: str, process: str) -> dict[str, Any] | None:
        """The ECS target of the process's rule, if the rule exists."""
        found = self._aws.call(
            f"read the schedule rule of {process}",
            self._aws.events.list_targets_by_rule,
            ok=("ResourceNotFoundException",),
            Rule=self._config.rule_name(app, process),
        )
        for target in found.get("Targets", []) if found else []:
            if target.get("Id") == TARGET_ID:
                return dict(target)
        return None

    def _rule(self, name: str) -> dict[str, str]:
        found = self._aws.must(
            f"describe schedule rule {name}", self._aws.events.describe_rule, Name=name
        )
        return {"ScheduleExpression": found.get("ScheduleExpression", ""), "State": found["State"]}

    def delete(self, name: str) -> None:
        """Delete a rule and its targets; a missing rule is fine."""
        self._aws.call(
            f"remove the targets of schedule rule {name}",
            self._aws.events.remove_targets,
            ok=("ResourceNotFoundException",),
            Rule=name,
            Ids=[TARGET_ID],
        )
        self._aws.call(
            f"delete schedule rule {name}",
            self._aws.events.delete_rule,
            ok=("ResourceNotFoundException",),
            Name=name,
        )

    def listed(self, prefix: str) -> list[tuple[str, str]]:
        """(name, ARN) of every rule whose name starts with `prefix`."""
        found: list[tuple[str, str]] = []
        for page in self._aws.pages(
            "list schedule rules",
            self._aws.events.list_rules,
            "NextToken",
            "NextToken",
            NamePrefix=prefix,
        ):
            found.extend((str(r["Name"]), str(r["Arn"])) for r in page.get("Rules", []))
        return found

    def tags(self, arn: str) -> dict[str, str]:
        found = self._aws.must(
            f"read the tags of schedule rule {arn.rsplit('/', 1)[-1]}",
            self._aws.events.list_tags_for_resource,
            ResourceARN=arn,
        )
        return {str(t["Key"]): str(t["Value"]) for t in found.get("Tags", [])}

    def _cluster_arn(self, task_definition: str) -> str:
        if self._config.cluster.startswith("arn:"):
            return self._config.cluster
        # arn:aws:ecs:<region>:<account>:task-definition/<family>:<n> -> the cluster's ARN
        head = task_definition.split(":task-definition/", 1)[0]
        return f"{head}:cluster/{self._config.cluster_name}"
