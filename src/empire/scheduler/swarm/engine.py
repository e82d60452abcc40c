"""The swarm manager's services and tasks: the calls the Swarm backend makes beyond the kit.

Errors are translated by the kit's `engine_errors`; the labels are the contract's
(`empire.scheduler.labels`), so `docker ps` on any node reads the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from docker.types.daemon import CancellableStream

from empire.scheduler.kit import logs, network
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.kit.errors import engine_errors

# Task states before the container runs, and the ones it ended in.
STARTING = frozenset({"new", "pending", "assigned", "accepted", "preparing", "ready", "starting"})
FAILED = frozenset({"failed", "rejected", "orphaned"})
ENDED = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})


def services(api: EngineAPI, *selectors: str) -> list[Json]:
    """The services carrying all of `selectors` (`k=v` or `k`)."""
    with engine_errors("list services"):
        return list(api.services(filters={"label": list(selectors)}))


def inspect_service(api: EngineAPI, service: str) -> Json | None:
    with engine_errors(f"inspect service {service}", missing_ok=True):
        return dict(api.inspect_service(service))
    return None


def tasks(api: EngineAPI, service_id: str) -> list[Json]:
    """Every task of a service still known to the manager (history included)."""
    with engine_errors(f"list the tasks of service {service_id[:12]}", missing_ok=True):
        return list(api.tasks(filters={"service": service_id}))
    return []


def create_service(api: EngineAPI, document: Mapping[str, Any], what: str) -> str:
    """Create a service from a whole ServiceSpec document (`spec`); return its id. `what`
    names it in an error ("the one-off service x")."""
    optional = {
        key: document[field]
        for key, field in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig"))
        if field in document
    }
    with engine_errors(f"create {what}"):
        created = api.create_service(
            document["TaskTemplate"],
            name=document["Name"],
            labels=document["Labels"],
            mode=document["Mode"],
            endpoint_spec=document["EndpointSpec"],
            **optional,
        )
    return str(created["ID"])


def remove_service(api: EngineAPI, service: str) -> None:
    with engine_errors(f"remove service {service}", missing_ok=True):
        api.remove_service(service)


def update_service(api: EngineAPI, current: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """Replace a service's spec with `spec` (a whole ServiceSpec document)."""
    name = current["Spec"]["Name"]
    with engine_errors(f"update service {name}"):
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


def rollback_service(api: EngineAPI, current: Mapping[str, Any]) -> None:
    """Ask the manager to return the service to its previous spec (`docker service rollback`).

    docker-py has no call for it: this is its own request, `rollback=previous`.
    """
    name = current["Spec"]["Name"]
    with engine_errors(f"roll back service {name}", missing_ok=True):
        url = api._url("/services/{0}/update", current["ID"])
        params = {"version": current["Version"]["Index"], "rollback": "previous"}
        api._raise_for_status(api._post_json(url, data=current["Spec"], params=params))


def service_log_lines(
    api: EngineAPI,
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
    with engine_errors(f"read the logs of service {service_id[:12]}", missing_ok=True):
        response = api._get(api._url("/services/{0}/logs", service_id), params=query, stream=True)
        api._raise_for_status(response)
        stream = CancellableStream(api._multiplexed_response_stream_helper(response), response)
        if on_open is not None:
            on_open(stream.close)
        for raw in logs.split_lines(stream):
            if (parsed := parse_log_line(raw)) is not None:
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


def ensure_network(api: EngineAPI, name: str) -> None:
    """Make sure the attachable overlay network every service and the router join exists (the
    kit makes it, with the router's address kept, one maker at a time)."""
    network.ensure_network(api, name, driver="overlay")


def digest(document: Any) -> str:
    """A short stable hash of a JSON document."""
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]
