"""ps, stop and one-off runs.

`ps` lists the tasks of the app's services (`list_tasks` by service), of its schedule
rules (by task definition family) and its one-off runs (started by the app id), describes
them in batches of 100 and reads the host from the container instance (its EC2 instance
id). Tasks are named `v<release>.<process>.<id8>` (`v<release>.run.<id8>` for runs), where
id8 starts the ECS task id; `stop` takes the name, the task id or its ARN.

A detached run registers a task definition in the `<cluster>_<app>__run` family, starts it
with `run_task` and deregisters that revision at once (the task keeps running). A release
phase's task (`empire.kind=release`) is not listed: it is no process of the formation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from empire.errors import NotFound, SchedulerError
from empire.model import Size, Task
from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler.ecs.aws import Aws, chunks
from empire.scheduler.ecs.config import (
    KIND,
    PROCESS,
    RELEASE,
    RELEASE_PHASE,
    RUN,
    EcsConfig,
    ecs_tags,
    read_tags,
)
from empire.scheduler.ecs.parameters import Parameters
from empire.scheduler.ecs.taskdefs import MIB, TaskDefinitions, definition
from empire.scheduler.labels import COMMAND

_STATES = {
    "RUNNING": "up",
    "PROVISIONING": "starting",
    "PENDING": "starting",
    "ACTIVATING": "starting",
    "DEACTIVATING": "stopping",
    "STOPPING": "stopping",
    "DEPROVISIONING": "stopping",
    "STOPPED": "stopped",
}


class Tasks:
    def __init__(
        self,
        aws: Aws,
        config: EcsConfig,
        taskdefs: TaskDefinitions,
        parameters: Parameters,
        clock: Callable[[], datetime],
    ) -> None:
        self._aws = aws
        self._config = config
        self._taskdefs = taskdefs
        self._parameters = parameters
        self._clock = clock
        self._cluster = config.cluster

    def running(self, app_id: str, services: Iterable[str], families: Iterable[str]) -> list[Task]:
        """The app's running (and starting, and stopping) tasks."""
        arns: list[str] = []
        for service in services:
            arns += self._list(f"list the tasks of {service}", serviceName=service)
        for family in families:
            arns += self._list(f"list the tasks of {family}", family=family)
        arns += self._list("list the app's one-off tasks", startedBy=app_id)
        described = self._describe(list(dict.fromkeys(arns)))
        groups = {f"service:{s}" for s in services}
        mine = [
            t
            for t in described
            if (
                t.get("group") in groups
                or t.get("startedBy") == app_id
                or _family(t) in set(families)
            )
            and read_tags(t.get("tags")).get(KIND) != RELEASE_PHASE
        ]
        hosts = self._hosts(
            {str(t["containerInstanceArn"]) for t in mine if t.get("containerInstanceArn")}
        )
        tasks = [self._task(t, hosts) for t in mine]
        return sorted(tasks, key=lambda t: (t.name.split(".")[1] == RUN, t.process, t.name))

    def stop(self, app_id: str, task: str, tasks: list[Task]) -> None:
        match = next(
            (t for t in tasks if task in (t.name, t.id) or task.endswith(f"/{t.id}")), None
        )
        if match is None:
            raise NotFound(f"no task {task!r}: see `emp ps`", resource="dyno")
        self._aws.call(
            f"stop task {match.name}",
            self._aws.ecs.stop_task,
            ok=("InvalidParameterException",),
            cluster=self._cluster,
            task=match.id,
            reason="stopped with Empire",
        )

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        family = self._config.run_family(manifest.app_name)
        task = start_one_off(
            self._aws,
            self._config,
            self._taskdefs,
            self._parameters,
            definition(self._config, manifest, process, family, RUN),
            manifest,
            process,
            kind=RUN,
            doing=f"run {' '.join(process.command)}",
            noun="the one-off task",
        )
        hosts = self._hosts(
            {task["containerInstanceArn"]} if task.get("containerInstanceArn") else set()
        )
        return self._task(task, hosts)

    # -- helpers ------------------------------------------------------------------------------

    def _list(self, action: str, **filters: str) -> list[str]:
        arns: list[str] = []
        for page in self._aws.pages(
            action,
            self._aws.ecs.list_tasks,
            "nextToken",
            "nextToken",
            cluster=self._cluster,
            desiredStatus="RUNNING",
            **filters,
        ):
            arns += page.get("taskArns", [])
        return arns

    def _describe(self, arns: list[str]) -> list[Any]:
        found: list[Any] = []
        for batch in chunks(arns, 100):
            page = self._aws.must(
                "describe the app's tasks",
                self._aws.ecs.describe_tasks,
                cluster=self._cluster,
                tasks=batch,
                include=["TAGS"],
            )
            found += page.get("tasks", [])
        return found

    def _hosts(self, instances: set[str]) -> dict[str, str]:
        hosts: dict[str, str] = {}
        batch: list[str]
        for batch in chunks(sorted(instances), 100):
            page = self._aws.must(
                "describe the container instances",
                self._aws.ecs.describe_container_instances,
                cluster=self._cluster,
                containerInstances=batch,
            )
            for instance in page.get("containerInstances", []):
                hosts[str(instance["containerInstanceArn"])] = str(
                    instance.get("ec2InstanceId", "")
                )
        return hosts

    def _task(self, task: Any, hosts: dict[str, str]) -> Task:
        definition = self._taskdefs.describe(str(task["taskDefinitionArn"])) or {}
        container = (definition.get("containerDefinitions") or [{}])[0]
        labels = container.get("dockerLabels") or {}
        tags = {str(t["key"]): str(t["value"]) for t in task.get("tags", [])}
        process = labels.get(PROCESS) or tags.get(PROCESS) or str(container.get("name", ""))
        release = _release(labels.get(RELEASE) or tags.get(RELEASE) or "v0")
        kind = tags.get(KIND) or labels.get(KIND, "")
        task_id = str(task["taskArn"]).rsplit("/", 1)[-1]
        overrides = (task.get("overrides") or {}).get("containerOverrides") or [{}]
        # As the Procfile wrote it (a viewer never reads an expanded value); a one-off's own
        # command comes as an override, with only Empire's variables expanded.
        shown = overrides[0].get("command") or []
        command = (
            " ".join(shown)
            if shown
            else labels.get(COMMAND, "") or " ".join(container.get("command") or [])
        )
        nproc = next(
            (u["hardLimit"] for u in container.get("ulimits", []) if u["name"] == "nproc"), 0
        )
        state = str(task.get("lastStatus", ""))
        stopped = state == "STOPPED"
        codes = [
            c.get("exitCode") for c in task.get("containers", []) if c.get("exitCode") is not None
        ]
        when = task.get("stoppedAt" if stopped else "startedAt") or task.get("createdAt")
        return Task(
            name=f"v{release}.{RUN if kind == RUN else process}.{task_id[:8]}",
            id=task_id,
            process=process,
            release=release,
            command=command,
            state=_STATES.get(state, state.lower()),
            host=hosts.get(str(task.get("containerInstanceArn", "")), ""),
            size=Size(
                int(container.get("cpu", 0)), int(container.get("memory", 0)) * MIB, int(nproc)
            ),
            updated_at=when if isinstance(when, datetime) else self._clock(),
            exit_code=int(codes[0]) if stopped and codes else None,
        )


def start_one_off(
    aws: Aws,
    config: EcsConfig,
    taskdefs: TaskDefinitions,
    parameters: Parameters,
    spec: dict[str, Any],
    manifest: Manifest,
    process: ManifestProcess,
    *,
    kind: str,
    doing: str,
    noun: str,
) -> Any:
    """Register `spec` (a task definition of the release), start one task of it, deregister
    it; return the task. `doing` and `noun` name it in errors ("ECS could not start <noun>")."""
    parameters.ensure(manifest)
    arn = taskdefs.register(spec)
    try:
        tags = config.tags(
            manifest.app_id,
            manifest.app_name,
            **{PROCESS: process.name, RELEASE: f"v{manifest.release}", KIND: kind},
        )
        found = aws.must(
            doing,
            aws.ecs.run_task,
            cluster=config.cluster,
            taskDefinition=arn,
            count=1,
            startedBy=manifest.app_id,
            launchType="EC2",
            networkConfiguration=config.network(),
            tags=ecs_tags(tags),
            enableECSManagedTags=True,
        )
    finally:
        taskdefs.deregister(arn)
    if found.get("failures") or not found.get("tasks"):
        failure = (found.get("failures") or [{}])[0]
        detail = f" ({failure['detail']})" if failure.get("detail") else ""
        raise SchedulerError(
            f"ECS could not start {noun}: {failure.get('reason', 'no task started')}{detail}"
        )
    return found["tasks"][0]


def _family(task: Any) -> str:
    return str(task.get("taskDefinitionArn", "")).rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _release(text: str) -> int:
    try:
        return int(text.lstrip("v"))
    except ValueError:
        return 0
