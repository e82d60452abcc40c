"""Names both engine-based backends give: internal aliases and labels of what they run."""

from __future__ import annotations

from datetime import datetime

from empire.model import Size, Task
from empire.scheduler import Manifest, ManifestProcess, labels


def aliases(manifest: Manifest, process: ManifestProcess) -> list[str]:
    """The internal names of a process: none unless it has ports; web also gets `<app>`."""
    if not process.ports:
        return []
    names = [f"{process.name}.{manifest.app_name}"]
    if process.name == "web":
        names.insert(0, manifest.app_name)
    return names


def process_labels(
    manifest: Manifest, process: ManifestProcess, *, kind: str, network: str
) -> dict[str, str]:
    """The labels of everything run for `process`: the manifest's, the process's, the kind, the
    network, and the command as the Procfile wrote it (what `ps` shows: never expanded)."""
    return {
        **manifest.labels,
        **process.labels,
        labels.APP: manifest.app_name,
        labels.APP_ID: manifest.app_id,
        labels.PROCESS: process.name,
        labels.RELEASE: f"v{manifest.release}",
        labels.COMMAND: process.shown,
        labels.KIND: kind,
        labels.NETWORK: network,
    }


def run_task(
    manifest: Manifest,
    process: ManifestProcess,
    *,
    index: int,
    ident: str,
    state: str,
    host: str,
    size: Size | None,
    when: datetime,
) -> Task:
    """A one-off run just started, as `ps` shows it: `v<release>.run.<n>`."""
    return Task(
        name=f"v{manifest.release}.run.{index}",
        id=ident[:12],
        process=process.name,
        release=manifest.release,
        command=process.shown,
        state=state,
        host=host,
        size=size,
        updated_at=when,
    )
