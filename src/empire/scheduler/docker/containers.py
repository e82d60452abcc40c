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
from dataclasses import dataclass

from empire.router import Router
from empire.scheduler import Manifest, ManifestProcess, labels
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.names import aliases, process_labels
from empire.scheduler.kit.network import ensure_network

LOOPBACK = "127.0.0.1"
_UNHASHED_ENV = frozenset({"EMPIRE_PROCESS_SCALE"})


def spec_hash(
    manifest: Manifest, process: ManifestProcess, nonce: str, placement: Placement
) -> str:
    """Hash what makes a container of `process` different from another one."""
    document = {
        "dns": placement.dns,
        "network": placement.network,
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
    placement: Placement,
) -> dict[str, str]:
    return {
        **process_labels(manifest, process, kind=kind, network=placement.label),
        labels.INDEX: str(index),
        labels.SPEC: spec_hash(manifest, process, nonce, placement),
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
    placement: Placement,
) -> str:
    """Create (not start) a container of `process`; return its id.

    Service containers start with no restart policy, so an exit during the rollout shows as
    `exited` with its code; `arm` gives them `unless-stopped` once they are healthy. One-off
    runs remove themselves when done; cron runs stay, so their exit codes show in `ps`.
    """
    service = kind == labels.SERVICE
    ports = published_ports(process) if service else []
    dns = placement.dns
    names = aliases(manifest, process) if service and dns is None else []
    host_config = kit.host_config(
        api,
        process,
        network=placement.network,
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
                manifest, process, kind=kind, index=index, nonce=nonce, placement=placement
            ),
            ports=ports or None,
            host_config=host_config,
            networking_config=api.create_networking_config({placement.network: endpoint}),
            use_config_proxy=False,
        )
    return str(created["Id"])


def arm(api: EngineAPI, container_id: str) -> None:
    """Give a healthy service container its restart policy."""
    with engine_errors(f"update container {container_id[:12]}", missing_ok=True):
        api.update_container(container_id, restart_policy={"Name": "unless-stopped"})


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an app's containers go: the network they join, the backend's network they are
    labelled with (the same for every app, so one list call finds them all), and the DNS
    server they ask (the router's resolver; None without a router)."""

    network: str
    label: str
    dns: str | None


class Network:
    """The user-defined bridge network the containers join (created when missing, with the
    router's address kept: `kit.network`).

    With `isolate`, each app gets a bridge network of its own instead (`<network>-<app id>`,
    which the router joins): an app's containers reach another app only through the router,
    by name, never directly. Without it, every app shares the one network.
    """

    def __init__(self, api: EngineAPI, name: str, router: Router, *, isolate: bool = False) -> None:
        self.name = name
        self.isolate = isolate
        self._api = api
        self._router = router
        self._ready: dict[str, str | None] = {}  # network -> its DNS server, once made
        self._lock = threading.Lock()

    def place(self, app_id: str) -> Placement:
        """The app's placement; its network is made (and joined by the router) when missing."""
        network = f"{self.name}-{app_id[:12]}" if self.isolate else self.name
        with self._lock:
            if network not in self._ready:
                ensure_network(self._api, network, driver="bridge")
                if self.isolate:
                    self._ready[network] = self._router.join(network)
                else:
                    self._ready[network] = self._router.resolver()
            return Placement(network, self.name, self._ready[network])

    def leave(self, app_id: str) -> None:
        """The app is gone: its own network goes too (isolated apps only)."""
        if not self.isolate:
            return
        network = f"{self.name}-{app_id[:12]}"
        with self._lock:
            self._ready.pop(network, None)
        self._router.leave(network)

    def forget(self) -> None:
        """Check again next time (a network may have been removed behind our back)."""
        with self._lock:
            self._ready.clear()
