"""The narrow slice of the Docker engine the scheduler uses, and its one error translation.

Every call into the docker SDK runs inside `engine_errors`, which turns the SDK's and the
transport's exceptions into `SchedulerError` with a message that names what was being done.
Containers are read from the engine's list endpoint (one call, no inspect per container) into
`Instance` values keyed by the scheduler's labels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests

from empire.errors import SchedulerError

APP = "empire.app"
APP_ID = "empire.app.id"
PROCESS = "empire.process"
RELEASE = "empire.release"
INDEX = "empire.index"
SPEC = "empire.spec"
NONCE = "empire.nonce"
KIND = "empire.kind"
NETWORK = "empire.network"
MANAGED = "empire.managed"

SERVICE = "service"
RUN = "run"
CRON = "cron"

# Docker states in which the container is, or is about to be, running its process.
ALIVE = frozenset({"running", "restarting", "paused"})


@contextlib.contextmanager
def engine_errors(action: str, *, missing_ok: bool = False) -> Iterator[None]:
    """Translate docker SDK errors raised while doing `action` into SchedulerError.

    With `missing_ok`, a container (or network) that is already gone, or already being
    removed, is not an error: the block is left quietly.
    """
    try:
        yield
    except docker.errors.APIError as e:
        reason = _reason(e)
        gone = isinstance(e, docker.errors.NotFound) or "already in progress" in reason
        if missing_ok and gone:
            return
        if isinstance(e, docker.errors.ImageNotFound):
            raise SchedulerError(
                f"cannot {action}: the image is not on the Docker engine ({reason})"
            ) from e
        raise SchedulerError(
            f"cannot {action}: the Docker engine answered {e.status_code}: {reason}"
        ) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise SchedulerError(f"cannot {action}: the Docker engine is unreachable ({e})") from e


def _reason(error: docker.errors.APIError) -> str:
    return str(error.explanation or error)


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
        return self.labels.get(APP_ID, "")

    @property
    def process(self) -> str:
        return self.labels.get(PROCESS, "")

    @property
    def kind(self) -> str:
        return self.labels.get(KIND, SERVICE)

    @property
    def spec(self) -> str:
        return self.labels.get(SPEC, "")

    @property
    def nonce(self) -> str:
        return self.labels.get(NONCE, "")

    @property
    def index(self) -> int:
        return _int(self.labels.get(INDEX, "0"))

    @property
    def release(self) -> int:
        return _int(self.labels.get(RELEASE, "v0").lstrip("v"))

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    @property
    def slot(self) -> str:
        """The `<process>.<n>` part of the task name (`run.<n>` for one-off runs)."""
        process = "run" if self.kind == RUN else self.process
        return f"{process}.{self.index}"

    @property
    def task_name(self) -> str:
        return f"v{self.release}.{self.slot}"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def list_instances(api: Any, *labels: str) -> list[Instance]:
    """Return every container (running or not) carrying all of `labels` (`k=v` or `k`)."""
    with engine_errors("list containers"):
        entries = api.containers(all=True, filters={"label": list(labels)})
    return [Instance.from_list(e) for e in entries]


def remove_instance(api: Any, instance_id: str, stop_timeout: int | None) -> None:
    """Stop a container (SIGTERM, then SIGKILL after `stop_timeout` s) and remove it.

    With no `stop_timeout` the container is killed at once.
    """
    if stop_timeout is not None:
        with engine_errors(f"stop container {instance_id[:12]}", missing_ok=True):
            api.stop(instance_id, timeout=stop_timeout)
    with engine_errors(f"remove container {instance_id[:12]}", missing_ok=True):
        try:
            api.remove_container(instance_id, force=True)
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            # The engine is removing it already (an auto-removed run): wait until it is gone.
            api.wait(instance_id, timeout=30, condition="removed")


def parse_time(text: str | None) -> datetime | None:
    """Parse the engine's RFC 3339 timestamps (nanoseconds, `Z`); None for Go's zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    stamp, nanos = split_nanos(text)
    return datetime.fromtimestamp(stamp, UTC).replace(microsecond=nanos // 1000)


def split_nanos(text: str) -> tuple[int, int]:
    """Split an RFC 3339 timestamp into (unix seconds, nanoseconds) without losing precision."""
    head, _, rest = text.partition(".")
    fraction = ""
    zone = "Z"
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:] or "Z"
    elif head.endswith("Z"):
        head = head[:-1]
    elif len(head) > 19:
        head, zone = head[:19], head[19:]
    zone = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(head[:19] + zone)
    return int(seconds.timestamp()), int((fraction or "0").ljust(9, "0")[:9])
