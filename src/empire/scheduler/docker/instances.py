"""The app's containers as the engine's list endpoint shows them, keyed by Empire's labels.

Containers are read with one list call (no inspect per container) into `Instance` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from empire.scheduler import labels
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors

# Docker states in which the container is, or is about to be, running its process.
ALIVE = frozenset({"running", "restarting", "paused"})


@dataclass(frozen=True, slots=True)
class Instance:
    """A container of an app, as the engine's container list shows it."""

    id: str
    name: str
    labels: Mapping[str, str]
    state: str
    ports: Mapping[int, int]  # container port -> host port on 127.0.0.1
    created: float

    @classmethod
    def from_list(cls, entry: Mapping[str, Any]) -> Instance:
        ports = {
            int(p["PrivatePort"]): int(p["PublicPort"])
            for p in entry.get("Ports") or []
            if p.get("PublicPort") and p.get("IP") in ("127.0.0.1", None, "")
        }
        names = entry.get("Names") or [""]
        return cls(
            id=str(entry["Id"]),
            name=str(names[0]).lstrip("/"),
            labels=dict(entry.get("Labels") or {}),
            state=str(entry.get("State", "")),
            ports=ports,
            created=float(entry.get("Created", 0)),
        )

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def app_id(self) -> str:
        return self.labels.get(labels.APP_ID, "")

    @property
    def process(self) -> str:
        return self.labels.get(labels.PROCESS, "")

    @property
    def kind(self) -> str:
        return self.labels.get(labels.KIND, labels.SERVICE)

    @property
    def spec(self) -> str:
        return self.labels.get(labels.SPEC, "")

    @property
    def nonce(self) -> str:
        return self.labels.get(labels.NONCE, "")

    @property
    def index(self) -> int:
        return labels.number(self.labels.get(labels.INDEX, "0"))

    @property
    def release(self) -> int:
        return labels.number(self.labels.get(labels.RELEASE, "v0").lstrip("v"))

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    @property
    def slot(self) -> str:
        """The `<process>.<n>` part of the task name (`run.<n>` for one-off runs,
        `release.<n>` for a release phase)."""
        kind = self.kind
        process = kind if kind in (labels.RUN, labels.RELEASE_PHASE) else self.process
        return f"{process}.{self.index}"

    @property
    def task_name(self) -> str:
        return f"v{self.release}.{self.slot}"


def list_instances(api: EngineAPI, *selectors: str) -> list[Instance]:
    """Return every container (running or not) carrying all of `selectors` (`k=v` or `k`)."""
    with engine_errors("list containers"):
        entries = api.containers(all=True, filters={"label": list(selectors)})
    found = [Instance.from_list(e) for e in entries]
    return [i for i in found if labels.made_by_empire(i.name, i.labels)]
