"""Swarm tasks in the contract's words: `Task` values with node names, and failure reasons.

Every engine of a cluster may report the same hostname (these test machines all say `vm`), so
a node is named by its `empire.node` label when it has one, else by its hostname when that is
unique in the swarm, else by `<hostname>@<address>`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from empire.model import Task
from empire.scheduler import labels
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.times import parse_time
from empire.scheduler.swarm import engine, spec

NODE_LABEL = "empire.node"
_NODES_TTL = 5.0  # seconds a node list is trusted
_PULL_HINTS = ("No such image", "pull access denied", "manifest unknown", "not found")

Json = dict[str, Any]


class Nodes:
    """Node id -> display name, read from the manager and cached for a few seconds."""

    def __init__(self, api: EngineAPI) -> None:
        self.api = api
        self._names: dict[str, str] = {}
        self._read_at = 0.0
        self._lock = threading.Lock()

    def name(self, node_id: str) -> str:
        if not node_id:
            return ""
        with self._lock:
            stale = time.monotonic() - self._read_at > _NODES_TTL
            if stale or node_id not in self._names:
                self._refresh()
            return self._names.get(node_id, node_id[:12])

    def _refresh(self) -> None:
        with engine_errors("list the swarm's nodes"):
            nodes = list(self.api.nodes())
        self._names = names(nodes)
        self._read_at = time.monotonic()


def names(nodes: list[Json]) -> dict[str, str]:
    """Display names of the nodes (see the module's docstring)."""
    hostnames = [str((n.get("Description") or {}).get("Hostname", "")) for n in nodes]
    found = {}
    for node, hostname in zip(nodes, hostnames, strict=True):
        label = ((node.get("Spec") or {}).get("Labels") or {}).get(NODE_LABEL)
        address = (node.get("Status") or {}).get("Addr", "")
        if label:
            found[node["ID"]] = str(label)
        elif hostname and hostnames.count(hostname) == 1:
            found[node["ID"]] = hostname
        else:
            found[node["ID"]] = f"{hostname or 'node'}@{address or node['ID'][:12]}"
    return found


def container_labels(task: Mapping[str, Any]) -> Mapping[str, str]:
    return ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}


def state(task: Mapping[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State", ""))


def runs_spec(task: Mapping[str, Any], template_hash: str, force_update: int) -> bool:
    """Whether the task runs the given task template (hash and force-update counter)."""
    task_spec = task.get("Spec") or {}
    return (
        container_labels(task).get(labels.SPEC) == template_hash
        and int(task_spec.get("ForceUpdate") or 0) == force_update
    )


def current(tasks: list[Json]) -> list[Json]:
    """The tasks the manager wants running (not the history of replaced ones)."""
    return [t for t in tasks if t.get("DesiredState") in ("running", "ready", "complete")]


def to_task(task: Mapping[str, Any], nodes: Nodes, clock: Callable[[], datetime]) -> Task:
    """A swarm task as the contract's Task: `v<release>.<process>.<slot>` (`run.<n>`)."""
    tags = container_labels(task)
    status = task.get("Status") or {}
    now_state = state(task)
    release = labels.number(tags.get(labels.RELEASE, "v0").lstrip("v"))
    ended = now_state in engine.ENDED
    exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
    return Task(
        name=task_name(task),
        id=str(task["ID"])[:12],
        process=str(tags.get(labels.PROCESS, "")),
        release=release,
        command=str(tags.get(labels.COMMAND, "")),
        state="up" if now_state == "running" else now_state,
        host=nodes.name(str(task.get("NodeID") or "")),
        size=spec.size(task.get("Spec") or {}),
        updated_at=parse_time(status.get("Timestamp")) or clock(),
        exit_code=int(exit_code) if ended and exit_code is not None else None,
    )


def task_name(task: Mapping[str, Any]) -> str:
    tags = container_labels(task)
    release = tags.get(labels.RELEASE, "v0")
    if tags.get(labels.KIND) in (labels.RUN, labels.RELEASE_PHASE):
        return f"{release}.{tags.get(labels.KIND)}.{tags.get(labels.INDEX, '0')}"
    return f"{release}.{tags.get(labels.PROCESS, '')}.{task.get('Slot', 0)}"


def slot(task: Mapping[str, Any]) -> str:
    """`<process>.<slot>` (`run.<n>` for one-off runs), as in log prefixes."""
    return task_name(task).split(".", 1)[1]


def failure(task: Mapping[str, Any], nodes: Nodes) -> str:
    """Why a task failed, naming its node; pull failures say what to do."""
    status = task.get("Status") or {}
    error = str(status.get("Err") or status.get("Message") or state(task))
    where = nodes.name(str(task.get("NodeID") or ""))
    text = f"{slot(task)} {state(task)} on {where or 'no node'}: {error}"
    if unpullable(task):
        image = (((task.get("Spec") or {}).get("ContainerSpec")) or {}).get("Image", "")
        text = (
            f"node {where} cannot pull the image {image} ({error}): push it to a registry "
            "every node of the swarm reaches, and deploy that reference"
        )
    elif "unhealthy" in error:
        said = last_check(nodes.api, task)
        text += (
            f"; its last health check said {said!r}"
            if said
            else " (the check runs `timeout` with `wget` or `nc` inside the container)"
        )
    return text


def last_check(api: EngineAPI, task: Mapping[str, Any]) -> str:
    """The output of a task's last health check, when its container is on this engine."""
    status = task.get("Status") or {}
    container = (status.get("ContainerStatus") or {}).get("ContainerID")
    if not container:
        return ""
    with engine_errors(f"inspect container {container[:12]}", missing_ok=True):
        health = (api.inspect_container(container).get("State") or {}).get("Health") or {}
        log = health.get("Log") or []
        return str(log[-1].get("Output", "")).strip()[:200] if log else ""
    return ""


def failing(task: Mapping[str, Any]) -> bool:
    return state(task) in engine.FAILED


def why(new: list[Json], nodes: Nodes, culprit: Json | None = None) -> str:
    """What went wrong with a change's new tasks: the culprit's failure, else the last new
    task that failed, else the first one still not running (empty when none)."""
    failed = [t for t in new if state(t) in engine.FAILED]
    culprit = culprit or (failed[-1] if failed else None)
    if culprit is not None:
        return failure(culprit, nodes)
    stuck = [t for t in current(new) if state(t) != "running"]
    if not stuck:
        return ""
    error = (stuck[0].get("Status") or {}).get("Err")
    return f"{slot(stuck[0])} still {state(stuck[0])}" + (f" ({error})" if error else "")


def unpullable(task: Mapping[str, Any]) -> bool:
    """Whether the task was rejected because its node could not get the image."""
    error = str((task.get("Status") or {}).get("Err") or "")
    return state(task) == "rejected" and any(hint in error for hint in _PULL_HINTS)
