"""The release phase on ECS: a task from the new release, awaited before any service changes.

The release's config vars are stored (Parameter Store), a task definition is registered in
the `<cluster>_<app>__release` family with the new image, the new config and the `release`
command, `run_task` starts it (tagged `empire.kind=release`, started by the app id, so
`remove` stops it and `ps` leaves it out) and the revision is deregistered at once, as for
one-off runs. Then `describe_tasks` is polled until the task has STOPPED, and its output
is read from its CloudWatch Logs stream (`<app>/release/<task id>`, the awslogs driver's
name for it) and handed to `output` line by line as it comes, with one last read after the
task stopped, as the driver may deliver the last lines late.

The result is the container's exit code and the last lines. Still running at the timeout,
the task is stopped (`stop_task`) and the exit code is None. A task that stopped before its
command ran (no image, no secrets, no room) has no exit code: that is a `SchedulerError`
naming ECS's reason. Nothing here touches a service, so a caller that stops after a failed
phase leaves the current release serving.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from empire.errors import SchedulerError
from empire.scheduler import Manifest, ManifestProcess, PhaseResult
from empire.scheduler.ecs.aws import Aws
from empire.scheduler.ecs.config import RELEASE_PHASE, EcsConfig
from empire.scheduler.ecs.logs import StreamReader
from empire.scheduler.ecs.parameters import Parameters
from empire.scheduler.ecs.taskdefs import TaskDefinitions, definition
from empire.scheduler.ecs.tasks import start_one_off

TAIL = 20  # lines kept for the result
MAX_LINE = 8192  # characters; longer lines are cut
CUT = " [line cut]"


class ReleasePhase:
    def __init__(
        self,
        aws: Aws,
        config: EcsConfig,
        taskdefs: TaskDefinitions,
        parameters: Parameters,
        *,
        poll: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._aws = aws
        self._config = config
        self._taskdefs = taskdefs
        self._parameters = parameters
        self._poll = poll
        self._sleep = sleep
        self._monotonic = monotonic

    def run(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        one_off = dataclasses.replace(
            process, healthcheck=None, ports=(), quantity=1, schedule=None
        )
        task = self._start(manifest, one_off)
        arn = str(task["taskArn"])
        stream = f"{manifest.app_name}/{one_off.name}/{arn.rsplit('/', 1)[-1]}"
        tail = _Tail(StreamReader(self._aws, self._config.log_group, stream), output)
        started = self._monotonic()
        stopped = False
        try:
            while True:
                task = self._describe(arn)
                tail.read()
                if task.get("lastStatus") == "STOPPED":
                    stopped = True
                    break
                if self._monotonic() - started >= timeout:
                    self._stop(arn, f"the release phase ran longer than {timeout:g}s")
                    stopped = True
                    tail.read()
                    return PhaseResult(None, tail.lines())
                self._sleep(self._poll)
        finally:
            if not stopped:  # an error, or the caller gave up: leave nothing running
                self._stop(arn, "the release phase was interrupted")
        self._sleep(min(self._poll, 2.0))
        tail.read()
        code = _exit_code(task, one_off.name)
        if code is None:
            raise SchedulerError(
                f"the release task stopped before its command ran: {_why(task, one_off.name)}"
            )
        return PhaseResult(code, tail.lines())

    def _start(self, manifest: Manifest, process: ManifestProcess) -> Any:
        family = self._config.release_family(manifest.app_name)
        return start_one_off(
            self._aws,
            self._config,
            self._taskdefs,
            self._parameters,
            definition(self._config, manifest, process, family, RELEASE_PHASE),
            manifest,
            process,
            kind=RELEASE_PHASE,
            doing=f"start the release phase of v{manifest.release}",
            noun="the release phase",
        )

    def _describe(self, arn: str) -> Any:
        found = self._aws.must(
            "follow the release phase's task",
            self._aws.ecs.describe_tasks,
            cluster=self._config.cluster,
            tasks=[arn],
        )
        tasks = found.get("tasks") or []
        if not tasks:
            raise SchedulerError(
                f"the release phase's task {arn.rsplit('/', 1)[-1]} is gone from ECS"
            )
        return tasks[0]

    def _stop(self, arn: str, reason: str) -> None:
        self._aws.call(
            "stop the release phase's task",
            self._aws.ecs.stop_task,
            ok=("InvalidParameterException",),
            cluster=self._config.cluster,
            task=arn,
            reason=reason[:255],
        )


class _Tail:
    """Hands each new line to `output` (cut when too long) and keeps the last TAIL."""

    def __init__(self, reader: StreamReader, output: Callable[[str], None]) -> None:
        self._reader = reader
        self._output = output
        self._last: deque[str] = deque(maxlen=TAIL)

    def read(self) -> None:
        for line in self._reader.read():
            if len(line) > MAX_LINE:
                line = line[:MAX_LINE] + CUT
            self._last.append(line)
            self._output(line)

    def lines(self) -> tuple[str, ...]:
        return tuple(self._last)


def _container(task: Any, name: str) -> Any:
    containers = task.get("containers") or [{}]
    return next((c for c in containers if c.get("name") == name), containers[0])


def _exit_code(task: Any, name: str) -> int | None:
    code = _container(task, name).get("exitCode")
    return int(code) if code is not None else None


def _why(task: Any, name: str) -> str:
    reasons = [str(task.get("stoppedReason") or "")]
    reasons.append(str(_container(task, name).get("reason") or ""))
    text = "; ".join(r for r in reasons if r)
    return text or "ECS gave no reason"
