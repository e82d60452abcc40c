"""Task definitions: one per process and release, registered only when something changed.

The registration input is hashed into the container's `empire.spec` docker label, so a
submit compares the hash of what it wants with the label of what the service runs and
registers a new revision only when they differ (a reconciler's idle submits register
nothing). Task definitions are immutable, so `describe` caches them by ARN.

Sizes: cpu shares are ECS cpu units (1024 a vCPU), memory is the hard limit in MiB, nproc
an `nproc` ulimit. Config vars are not in the task definition: `secrets` names the SSM
parameters that hold them (`parameters.py`), and an app's EMPIRE_TASK_ROLE_ARN, when the
operator allows that role, becomes the task role. A container health check is set only when
the Procfile declares one: it runs in the image (`wget`, else `curl`, for HTTP; `nc`, else
bash's /dev/tcp, for TCP), and an image without those tools would be killed as unhealthy.
Web processes are gated by the target group's health check in any case.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import threading
from collections.abc import Callable
from typing import Any

from empire.model import HealthCheck
from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler import labels as labels_
from empire.scheduler.ecs.aws import Aws
from empire.scheduler.ecs.config import KIND, PROCESS, RELEASE, SPEC, EcsConfig, ecs_tags
from empire.scheduler.ecs.parameters import container_env

MIB = 1024 * 1024
_UNHASHED_ENV = frozenset({"EMPIRE_PROCESS_SCALE"})


def definition(
    config: EcsConfig, manifest: Manifest, process: ManifestProcess, family: str, kind: str
) -> dict[str, Any]:
    """The `register_task_definition` input for the process, its spec hash in a label.

    Raises Invalid when the app names a task role the operator does not allow.
    """
    task_role = config.task_role(manifest.env)
    environment, secrets = container_env(config, manifest, process)
    labels = {
        **manifest.labels,
        **process.labels,
        PROCESS: process.name,
        RELEASE: f"v{manifest.release}",
        KIND: kind,
        labels_.COMMAND: process.shown,  # what ps shows: as the Procfile wrote it
    }
    container: dict[str, Any] = {
        "name": process.name,
        "image": manifest.image,
        "essential": True,
        "command": list(process.command),
        "environment": environment,
        "cpu": max(process.cpu_shares, 0),
        "memory": max(process.memory // MIB, 6),
        "portMappings": [{"containerPort": p.container, "protocol": "tcp"} for p in process.ports],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": config.log_group,
                "awslogs-region": config.region,
                "awslogs-stream-prefix": manifest.app_name,
            },
        },
        "dockerLabels": labels,
    }
    if secrets:
        container["secrets"] = secrets
    if process.nproc > 0:
        container["ulimits"] = [
            {"name": "nproc", "softLimit": process.nproc, "hardLimit": process.nproc}
        ]
    check = health_check(process)
    if check is not None:
        container["healthCheck"] = check
    tags = config.tags(
        manifest.app_id,
        manifest.app_name,
        **{PROCESS: process.name, RELEASE: f"v{manifest.release}", KIND: kind},
    )
    spec: dict[str, Any] = {
        "family": family,
        "taskRoleArn": task_role,
        "executionRoleArn": config.execution_role_arn,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [container],
        "tags": ecs_tags(tags),
    }
    labels[SPEC] = spec_hash(spec)
    return spec


def spec_hash(spec: dict[str, Any]) -> str:
    """A short hash of a registration input (without its own `empire.spec` label).

    `EMPIRE_PROCESS_SCALE` is left out, as by the Docker backend: scaling changes the count
    of tasks, it does not replace them (the variable keeps the value it had at the deploy).
    """
    box = spec["containerDefinitions"][0]
    environment = [e for e in box["environment"] if e["name"] not in _UNHASHED_ENV]
    hashed = {**spec, "containerDefinitions": [{**box, "environment": environment}]}
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def health_check(process: ManifestProcess) -> dict[str, Any] | None:
    """The container health check of the Procfile's `healthcheck`, if it has one."""
    check = process.healthcheck
    if check is None:
        return None
    port = check.port or (process.ports[0].container if process.ports else None)
    if port is None:
        return None
    timeout = int(_clamp(check.timeout, 2, 60))
    return {
        "command": ["CMD-SHELL", _probe(check, port, timeout)],
        "interval": int(_clamp(check.interval, 5, 300)),
        "timeout": timeout,
        "retries": 3,
        "startPeriod": int(_clamp(check.grace, 0, 300)),
    }


def _probe(check: HealthCheck, port: int, timeout: int) -> str:
    if check.type == "http":
        url = shlex.quote(f"http://127.0.0.1:{port}{check.path}")
        return (
            f"wget -q -T {timeout} -O /dev/null {url} || "
            f"curl -fsS -m {timeout} -o /dev/null {url} || exit 1"
        )
    return f"nc -z -w {timeout} 127.0.0.1 {port} || bash -c '</dev/tcp/127.0.0.1/{port}' || exit 1"


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def spec_of(task_definition: dict[str, Any]) -> str:
    """The `empire.spec` label of a described task definition ("" when absent)."""
    containers = task_definition.get("containerDefinitions") or [{}]
    return str((containers[0].get("dockerLabels") or {}).get(SPEC, ""))


class TaskDefinitions:
    """Registers, describes (cached) and deregisters task definitions."""

    def __init__(self, aws: Aws) -> None:
        self._aws = aws
        self._cache: dict[str, dict[str, Any]] = {}
        self._guard = threading.Lock()

    def describe(self, arn: str) -> dict[str, Any] | None:
        """The task definition (cached: they never change); None when it does not exist."""
        with self._guard:
            cached = self._cache.get(arn)
        if cached is not None:
            return cached
        found = self._aws.call(
            f"describe task definition {_short(arn)}",
            self._aws.ecs.describe_task_definition,
            ok=("ClientException",),
            taskDefinition=arn,
            include=["TAGS"],
        )
        if found is None:
            return None
        task_definition = dict(found["taskDefinition"])
        task_definition["tags"] = found.get("tags", [])
        with self._guard:
            self._cache[arn] = task_definition
        return task_definition

    def ensure(
        self,
        spec: dict[str, Any],
        current: str | None,
        prepare: Callable[[], None] | None = None,
    ) -> tuple[str, bool]:
        """Return (ARN, registered?): `current` when it has the spec, else a new revision
        (`prepare` is called first: it stores the parameters the revision names)."""
        if current:
            described = self.describe(current)
            if described is not None and spec_of(described) == _label(spec):
                return current, False
        if prepare is not None:
            prepare()
        return self.register(spec), True

    def register(self, spec: dict[str, Any]) -> str:
        found = self._aws.must(
            f"register task definition {spec['family']}",
            self._aws.ecs.register_task_definition,
            **spec,
        )
        task_definition = dict(found["taskDefinition"])
        task_definition["tags"] = found.get("tags", spec.get("tags", []))
        arn = str(task_definition["taskDefinitionArn"])
        with self._guard:
            self._cache[arn] = task_definition
        return arn

    def deregister(self, arn: str) -> None:
        """Deregister a revision (tasks running it keep running); gone ones are fine."""
        self._aws.call(
            f"deregister task definition {_short(arn)}",
            self._aws.ecs.deregister_task_definition,
            ok=("ClientException", "InvalidParameterException"),
            taskDefinition=arn,
        )


def _label(spec: dict[str, Any]) -> str:
    return str(spec["containerDefinitions"][0]["dockerLabels"][SPEC])


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
