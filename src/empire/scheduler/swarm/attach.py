"""Attached one-off runs on Swarm: a container of the manager's engine, on the overlay network.

Swarm services cannot be attached to, so an attached run is a plain container started by the
engine Empire talks to (a manager), joined to the attachable overlay network: it reaches every
app like a task does. It carries the labels of a run (kind `run`, index) plus
`empire.attached=true` and the process's limits; the session is the kit's (`kit.attach`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import docker.errors

from empire.model import Task
from empire.scheduler import Manifest, ManifestProcess, labels
from empire.scheduler.kit import attach as kit
from empire.scheduler.kit import containers as limits
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.kit.attach import EngineAttachment
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.swarm import engine, spec


def containers(api: EngineAPI, app_id: str) -> list[Json]:
    """The app's attached run containers on the manager's engine."""
    with engine_errors("list the attached runs"):
        return list(
            api.containers(
                all=True, filters={"label": [f"{labels.APP_ID}={app_id}", labels.ATTACHED]}
            )
        )


def to_task(container: dict[str, Any], host: str) -> Task:
    """An attached run's container as a Task (`v<release>.run.<n>`)."""
    tags = container.get("Labels") or {}
    state = str(container.get("State", ""))
    return Task(
        name=f"{tags.get(labels.RELEASE, 'v0')}.run.{tags.get(labels.INDEX, '0')}",
        id=str(container["Id"])[:12],
        process=str(tags.get(labels.PROCESS, "run")),
        release=int(tags.get(labels.RELEASE, "v0").lstrip("v") or 0),
        command=str(tags.get(labels.COMMAND, "")),
        state="up" if state == "running" else state,
        host=host,
        size=None,
        updated_at=datetime.fromtimestamp(int(container.get("Created", 0)), UTC),
    )


def start(
    api: EngineAPI,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    number: int,
    network: str,
    tty: bool,
    rows: int | None,
    cols: int | None,
    dns: str | None = None,
) -> EngineAttachment:
    """Pull the image when the manager lacks it, create, attach, start."""
    engine.ensure_network(api, network)
    with engine_errors(f"pull {manifest.image} on the manager"):
        try:
            api.inspect_image(manifest.image)
        except docker.errors.ImageNotFound:
            api.pull(manifest.image)
    run_labels = {
        **spec.service_labels(manifest, process, kind=labels.RUN, network=network),
        labels.INDEX: str(number),
        labels.ATTACHED: "true",
    }
    container_id = kit.create(
        api,
        manifest.image,
        command=process.command,
        name=spec.run_name(manifest.app_name, number),
        env=process.env,
        labels=run_labels,
        host_config=limits.host_config(
            api, process, network=network, hard_cpu=True, dns=[dns] if dns else None
        ),
        tty=tty,
    )
    name = f"v{manifest.release}.run.{number}"
    return kit.start(api, container_id, name, tty=tty, rows=rows, cols=cols)


def remove(api: EngineAPI, container_id: str) -> None:
    limits.remove(api, container_id, None)
