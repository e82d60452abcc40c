"""What a container of a process looks like on the Docker backend: labels, spec, networking.

A container's `empire.spec` label is a hash of everything that needs a new container when it
changes (image, command, environment, size, ports, health check, restart nonce). Scaling only
adds or removes instances, so `EMPIRE_PROCESS_SCALE` is left out of the hash.

Every container uses the router's resolver as its DNS server (`dns`): `http://<app>/` and
`http://<process>.<app>/` are answered with the router's address, and the router sends each
request to a healthy instance (`empire.router`). Without a router (EMPIRE_ROUTER=none), the
processes with ports join the network with the aliases `<process>.<app>` (and `<app>` for web)
instead. Ports are published on 127.0.0.1 only, on a port the engine picks: host-side traffic
(health checks) goes there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import threading
from collections.abc import Callable

from empire.scheduler import Manifest, ManifestProcess, labels
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.names import aliases, process_labels
from empire.scheduler.kit.network import ensure_network

LOOPBACK = "127.0.0.1"
_UNHASHED_ENV = frozenset({"EMPIRE_PROCESS_SCALE"})


def spec_hash(manifest: Manifest, process: ManifestProcess, nonce: str, dns: str | None) -> str:
    """Hash what makes a container of `process` different from another one."""
    document = {
        "dns": dns,
        "image": manifest.image,
        "command": list(process.command),
        "env": {k: v for k, v in process.env.items() if k not in _UNHASHED_ENV},
        "size": [process.cpu_shares, process.memory, process.nproc],
        "ports": [dataclasses.astuple(p) for p in process.ports],
        "healthcheck": dataclasses.asdict(process.healthcheck) if process.healthcheck else None,
        "nonce": nonce,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def published_ports(process: ManifestProcess) -> list[int]:
    """The container ports published on loopback: the process's ports and its check's port."""
    ports = [p.container for p in process.ports]
    check = process.healthcheck
    if check is not None and check.port is not None and check.port not in ports:
        ports.append(check.port)
    return list(dict.fromkeys(ports))


def container_name(manifest: Manifest, process: str, index: int) -> str:
    return (
        f"empire-{manifest.app_name}-{process}-{index}-v{manifest.release}-{secrets.token_hex(2)}"
    )


def container_labels(
    manifest: Manifest,
    process: ManifestProcess,
    *,
    kind: str,
    index: int,
    nonce: str,
    network: Network,
) -> dict[str, str]:
    return {
        **process_labels(manifest, process, kind=kind, network=network.name),
        labels.INDEX: str(index),
        labels.SPEC: spec_hash(manifest, process, nonce, network.dns()),
        labels.NONCE: nonce,
    }


def create(
    api: EngineAPI,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    kind: str,
    index: int,
    nonce: str,
    network: Network,
) -> str:
    """Create (not start) a container of `process`; return its id.

    Service containers start with no restart policy, so an exit during the rollout shows as
    `exited` with its code; `arm` gives them `unless-stopped` once they are healthy. One-off
    runs remove themselves when done; cron runs stay, so their exit codes show in `ps`.
    """
    service = kind == labels.SERVICE
    ports = published_ports(process) if service else []
    dns = network.dns()
    names = aliases(manifest, process) if service and dns is None else []
    host_config = kit.host_config(
        api,
        process,
        network=network.name,
        restart_policy={"Name": "no"},
        port_bindings={port: (LOOPBACK, None) for port in ports},
        auto_remove=kind == labels.RUN,
        dns=[dns] if dns else None,
    )
    endpoint = api.create_endpoint_config(aliases=names or None)
    shown = "run" if kind == labels.RUN else process.name
    with engine_errors(f"create a {process.name} container of {manifest.app_name}"):
        created = api.create_container(
            manifest.image,
            command=list(process.command) or None,
            name=container_name(manifest, shown, index),
            environment=[f"{k}={v}" for k, v in process.env.items()],
            labels=container_labels(
                manifest, process, kind=kind, index=index, nonce=nonce, network=network
            ),
            ports=ports or None,
            host_config=host_config,
            networking_config=api.create_networking_config({network.name: endpoint}),
            use_config_proxy=False,
        )
    return str(created["Id"])


def arm(api: EngineAPI, container_id: str) -> None:
    """Give a healthy service container its restart policy."""
    with engine_errors(f"update container {container_id[:12]}", missing_ok=True):
        api.update_container(container_id, restart_policy={"Name": "unless-stopped"})


class Network:
    """The user-defined bridge network every container joins (created when missing, with the
    router's address kept: `kit.network`), and the DNS server its containers use."""

    def __init__(self, api: EngineAPI, name: str, dns: Callable[[], str | None]) -> None:
        self.name = name
        self._api = api
        self._dns = dns
        self._ready = False
        self._lock = threading.Lock()

    def dns(self) -> str | None:
        """The router's resolver, which every container asks (None: no router)."""
        return self._dns()

    def ensure(self) -> None:
        with self._lock:
            if self._ready:
                return
            ensure_network(self._api, self.name, driver="bridge")
            self._ready = True

    def forget(self) -> None:
        """Check again next time (the network may have been removed behind our back)."""
        with self._lock:
            self._ready = False
