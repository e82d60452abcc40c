"""The narrow slice of the swarm manager's API the backend uses, and its one error translation.

Every call into the docker SDK runs inside `swarm_errors`, which turns the SDK's and the
transport's exceptions into `SchedulerError` with a message naming what was being done. The
label names are the Docker backend's, so `docker ps` on any node reads the same way.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests
from docker.types.daemon import CancellableStream

from empire.errors import SchedulerError

APP = "empire.app"
APP_ID = "empire.app.id"
PROCESS = "empire.process"
RELEASE = "empire.release"
INDEX = "empire.index"
SPEC = "empire.spec"  # hash of the task template: the tasks that run it carry it too
CONFIG = "empire.swarm.config"  # hash of the rest of the service spec but replicas
KIND = "empire.kind"
NETWORK = "empire.network"
MANAGED = "empire.managed"
ATTACHED = "empire.attached"

SERVICE = "service"
RUN = "run"

# Task states before the container runs, and the ones it ended in.
STARTING = frozenset({"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"})
FAILED = frozenset({"failed", "rejected", "orphaned"})
ENDED = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})


@contextlib.contextmanager
def swarm_errors(action: str, *, missing_ok: bool = False) -> Iterator[None]:
    """Translate docker SDK errors raised while doing `action` into SchedulerError.

    With `missing_ok`, a service, task or container that is already gone is not an error.
    """
    try:
        yield
    except docker.errors.APIError as e:
        reason = str(e.explanation or e)
        if missing_ok and (isinstance(e, docker.errors.NotFound) or "in progress" in reason):
            return
        if e.status_code == 503 and "not a swarm manager" in reason:
            raise SchedulerError(
                f"cannot {action}: the Docker engine is not a swarm manager ({reason}); point "
                "EMPIRE_DOCKER_HOST at a manager's engine"
            ) from e
        raise SchedulerError(
            f"cannot {action}: the swarm manager answered {e.status_code}: {reason}"
        ) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise SchedulerError(f"cannot {action}: the swarm manager is unreachable ({e})") from e


def services(api: Any, *labels: str) -> list[dict[str, Any]]:
    """The services carrying all of `labels` (`k=v` or `k`)."""
    with swarm_errors("list services"):
        return list(api.services(filters={"label": list(labels)}))


def inspect_service(api: Any, service: str) -> dict[str, Any] | None:
    with swarm_errors(f"inspect service {service}", missing_ok=True):
        return dict(api.inspect_service(service))
    return None


def tasks(api: Any, service_id: str) -> list[dict[str, Any]]:
    """Every task of a service still known to the manager (history included)."""
    with swarm_errors(f"list the tasks of service {service_id[:12]}", missing_ok=True):
        return list(api.tasks(filters={"service": service_id}))
    return []


def remove_service(api: Any, service: str) -> None:
    with swarm_errors(f"remove service {service}", missing_ok=True):
        api.remove_service(service)


def update_service(api: Any, current: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """Replace a service's spec with `spec` (a whole ServiceSpec document)."""
    name = current["Spec"]["Name"]
    with swarm_errors(f"update service {name}"):
        api.update_service(
            current["ID"],
            current["Version"]["Index"],
            task_template=spec["TaskTemplate"],
            name=spec["Name"],
            labels=spec["Labels"],
            mode=spec["Mode"],
            update_config=spec["UpdateConfig"],
            rollback_config=spec["RollbackConfig"],
            endpoint_spec=spec["EndpointSpec"],
        )


def rollback_service(api: Any, current: Mapping[str, Any]) -> None:
    """Ask the manager to return the service to its previous spec (`docker service rollback`).

    docker-py has no call for it: this is its own request, `rollback=previous`.
    """
    name = current["Spec"]["Name"]
    with swarm_errors(f"roll back service {name}", missing_ok=True):
        url = api._url("/services/{0}/update", current["ID"])
        params = {"version": current["Version"]["Index"], "rollback": "previous"}
        api._raise_for_status(api._post_json(url, data=current["Spec"], params=params))


def service_log_lines(
    api: Any,
    service_id: str,
    *,
    on_open: Callable[[Callable[[], None]], None] | None = None,
    **params: Any,
) -> Iterator[tuple[str, dict[str, str], str]]:
    """Yield a service's log lines as (RFC 3339 time, swarm attributes, text).

    `on_open` first gets a function that ends the stream from another thread (it shuts the
    connection down: closing a response another thread reads from would wait for that read).
    """
    query = {"details": True, "timestamps": True, "stdout": True, "stderr": True, **params}
    with swarm_errors(f"read the logs of service {service_id[:12]}", missing_ok=True):
        response = api._get(api._url("/services/{0}/logs", service_id), params=query, stream=True)
        api._raise_for_status(response)
        stream = CancellableStream(api._multiplexed_response_stream_helper(response), response)
        if on_open is not None:
            on_open(stream.close)
        buffer = b""
        for chunk in stream:
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                if (parsed := parse_log_line(raw)) is not None:
                    yield parsed
        if buffer and (parsed := parse_log_line(buffer)) is not None:
            yield parsed


def parse_log_line(raw: bytes) -> tuple[str, dict[str, str], str] | None:
    """Split `<time> k=v,k=v <text>` (a service log line with details) into its parts."""
    text = raw.decode("utf-8", "replace").rstrip("\r")
    stamp, _, rest = text.partition(" ")
    if not stamp[:1].isdigit():
        return None
    details, _, message = rest.partition(" ")
    attrs = dict(p.split("=", 1) for p in details.split(",") if "=" in p)
    if not attrs:  # no details: the whole rest is the message
        return stamp, {}, rest
    return stamp, attrs, message


def ensure_network(api: Any, name: str) -> None:
    """Create the attachable overlay network every service and the router join."""
    with swarm_errors(f"create the {name} overlay network"):
        found = [n for n in api.networks(names=[name]) if n["Name"] == name]
        if found:
            if found[0].get("Driver") != "overlay":
                raise SchedulerError(
                    f"network {name} exists with driver {found[0].get('Driver')}: the swarm "
                    "backend needs an attachable overlay network; pick another name"
                )
            return
        api.create_network(
            name, driver="overlay", attachable=True, labels={MANAGED: "true"}, check_duplicate=True
        )


def parse_time(text: str | None) -> datetime | None:
    """Parse the engine's RFC 3339 timestamps (nanoseconds, `Z`); None for Go's zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    head, _, rest = text.partition(".")
    zone = "+00:00"
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, tail = rest[:digits], rest[digits:]
        zone = "+00:00" if tail in ("", "Z") else tail
    else:
        fraction = ""
        if head.endswith("Z"):
            head = head[:-1]
        elif len(head) > 19:
            head, zone = head[:19], head[19:]
    when = datetime.fromisoformat(head[:19] + zone)
    return when.astimezone(UTC).replace(microsecond=int((fraction or "0").ljust(6, "0")[:6]))


def digest(document: Any) -> str:
    """A short stable hash of a JSON document."""
    import hashlib

    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
