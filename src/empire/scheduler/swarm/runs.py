"""Detached one-off runs: a replicated job of one task, never restarted, on any node.

The service is `<app>-run-<n>` (kind `run`, index n, the app's labels, size and network, no
aliases, no health check); its task is `v<release>.run.<n>`. `start` waits until the task runs
(or already ended), so that a node that cannot pull the image is a SchedulerError naming it.
Finished runs stay listed (with their exit code) until more than KEEP_RUNS of them pile up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from empire.errors import SchedulerError
from empire.model import Task
from empire.scheduler import Manifest, ManifestProcess, labels
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.names import run_task
from empire.scheduler.swarm import engine, spec, tasks

KEEP_RUNS = 3  # finished one-off runs kept per app, so `ps` shows their exit codes
_POLL = 0.2


def services(api: EngineAPI, app_id: str) -> list[dict[str, Any]]:
    return engine.services(api, f"{labels.APP_ID}={app_id}", f"{labels.KIND}={labels.RUN}")


def index(tags: dict[str, str]) -> int:
    try:
        return int(tags.get(labels.INDEX, "0"))
    except ValueError:
        return 0


def start(
    api: EngineAPI,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    number: int,
    network: str,
    stop_grace: float,
    nodes: tasks.Nodes,
    clock: Callable[[], datetime],
    wait: float,
    dns: str | None = None,
) -> Task:
    """Create the run's job and wait (up to `wait` s) until its task runs or ended."""
    document = spec.one_off(
        manifest, process, index=number, network=network, stop_grace=stop_grace, dns=dns
    )
    engine.ensure_network(api, network)
    service_id = engine.create_service(api, document, f"the one-off service {document['Name']}")
    deadline = time.monotonic() + wait
    task: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        found = engine.tasks(api, service_id)
        task = max(found, key=lambda t: str(t.get("CreatedAt", "")), default=None)
        if task is not None and tasks.state(task) not in engine.STARTING:
            break
        time.sleep(_POLL)
    if task is not None and tasks.unpullable(task):
        engine.remove_service(api, service_id)
        raise SchedulerError(tasks.failure(task, nodes))
    if task is not None:
        return tasks.to_task(task, nodes, clock)
    return run_task(
        manifest,
        process,
        index=number,
        ident=service_id,
        state="pending",
        host="",
        size=spec.size(document["TaskTemplate"]),
        when=clock(),
    )


def reap(api: EngineAPI, app_id: str, keep: int = KEEP_RUNS) -> None:
    """Remove the app's finished runs but the newest `keep`."""
    finished = []
    for service in services(api, app_id):
        found = engine.tasks(api, service["ID"])
        if found and all(tasks.state(t) in engine.ENDED for t in found):
            finished.append(service)
    finished.sort(key=lambda s: index(s["Spec"].get("Labels") or {}))
    for service in finished[: max(len(finished) - keep, 0)]:
        engine.remove_service(api, service["ID"])
