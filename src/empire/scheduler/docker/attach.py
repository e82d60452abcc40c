"""Attached one-off runs on the Docker backend: the kit's attach session (`kit.attach`) on a
container like a detached run's (kind `run`, the app's labels, limits and network) plus
`empire.attached=true`. Attached containers left behind by a server that died are removed by
the next attached run of the app once they have been stopped a while.
"""

from __future__ import annotations

from empire.scheduler import Manifest, ManifestProcess, labels
from empire.scheduler.docker import containers
from empire.scheduler.docker.instances import Instance
from empire.scheduler.kit import attach as kit
from empire.scheduler.kit import containers as limits
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.attach import EngineAttachment


def start(
    api: EngineAPI,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    index: int,
    placement: containers.Placement,
    tty: bool,
    rows: int | None,
    cols: int | None,
) -> EngineAttachment:
    """Create the attached one-off container of `process`, attach to it, start it."""
    container_labels = containers.container_labels(
        manifest, process, kind=labels.RUN, index=index, nonce="", placement=placement
    )
    container_id = kit.create(
        api,
        manifest.image,
        command=process.command,
        name=containers.container_name(manifest, "run", index),
        env=process.env,
        labels={**container_labels, labels.ATTACHED: "true"},
        host_config=limits.host_config(
            api,
            process,
            network=placement.network,
            restart_policy={"Name": "no"},
            auto_remove=False,
            dns=[placement.dns] if placement.dns else None,
        ),
        networking_config=api.create_networking_config(
            {placement.network: api.create_endpoint_config()}
        ),
        tty=tty,
    )
    name = f"v{manifest.release}.run.{index}"
    return kit.start(api, container_id, name, tty=tty, rows=rows, cols=cols)


def stale(api: EngineAPI, found: list[Instance], now: float | None = None) -> list[str]:
    """The ids of the attached containers among `found` that a dead session left behind."""
    attached = [(i.id, i.state) for i in found if i.labels.get(labels.ATTACHED) == "true"]
    return kit.stale(api, attached, now)
