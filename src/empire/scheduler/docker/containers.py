"""What a container of a process looks like: labels, environment, limits and networking.

A container's `empire.spec` label is a hash of everything that needs a new container when it
changes (image, command, environment, size, ports, health check, restart nonce). Scaling only
adds or removes instances, so `EMPIRE_PROCESS_SCALE` is left out of the hash.

Processes with ports join the network with the aliases `<process>.<app>` (and `<app>` for
web), so other containers reach them by name, and publish each port on 127.0.0.1 only, on a
port the engine picks: host-side traffic (health checks, the router) goes there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import threading
from typing import Any

from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler.docker import engine
from empire.scheduler.docker.engine import engine_errors

LOOPBACK = "127.0.0.1"
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}}
SYSCTLS = {"net.ipv4.ip_unprivileged_port_start": "0"}
_UNHASHED_ENV = frozenset({"EMPIRE_PROCESS_SCALE"})


def spec_hash(manifest: Manifest, process: ManifestProcess, nonce: str) -> str:
    """Hash what makes a container of `process` different from another one."""
    document = {
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


def aliases(manifest: Manifest, process: ManifestProcess) -> list[str]:
    """The network aliases of a service container: none unless the process has ports."""
    if not process.ports:
        return []
    names = [f"{process.name}.{manifest.app_name}"]
    if process.name == "web":
        names.insert(0, manifest.app_name)
    return names


def container_name(manifest: Manifest, process: str, index: int) -> str:
    return (
        f"empire-{manifest.app_name}-{process}-{index}-v{manifest.release}-{secrets.token_hex(2)}"
    )


def labels(
    manifest: Manifest,
    process: ManifestProcess,
    *,
    kind: str,
    index: int,
    spec: str,
    nonce: str,
    network: str,
) -> dict[str, str]:
    return {
        **manifest.labels,
        **process.labels,
        engine.APP: manifest.app_name,
        engine.APP_ID: manifest.app_id,
        engine.PROCESS: process.name,
        engine.RELEASE: f"v{manifest.release}",
        engine.INDEX: str(index),
        engine.SPEC: spec,
        engine.NONCE: nonce,
        engine.KIND: kind,
        engine.NETWORK: network,
    }


def create(
    api: Any,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    kind: str,
    index: int,
    nonce: str,
    network: str,
) -> str:
    """Create (not start) a container of `process`; return its id.

    Service containers start with no restart policy, so an exit during the rollout shows as
    `exited` with its code; `arm` gives them `unless-stopped` once they are healthy. One-off
    runs remove themselves when done; cron runs stay, so their exit codes show in `ps`.
    """
    ports = published_ports(process) if kind == engine.SERVICE else []
    names = aliases(manifest, process) if kind == engine.SERVICE else []
    host_config = api.create_host_config(
        cpu_shares=process.cpu_shares or None,
        mem_limit=process.memory or None,
        pids_limit=process.nproc or None,
        security_opt=["no-new-privileges"],
        init=True,
        restart_policy={"Name": "no"},
        log_config=LOG_CONFIG,
        sysctls=SYSCTLS,
        port_bindings={port: (LOOPBACK, None) for port in ports},
        network_mode=network,
        auto_remove=kind == engine.RUN,
    )
    endpoint = api.create_endpoint_config(aliases=names or None)
    spec = spec_hash(manifest, process, nonce)
    with engine_errors(f"create a {process.name} container of {manifest.app_name}"):
        created = api.create_container(
            manifest.image,
            command=list(process.command) or None,
            name=container_name(manifest, "run" if kind == engine.RUN else process.name, index),
            environment=[f"{k}={v}" for k, v in process.env.items()],
            labels=labels(
                manifest,
                process,
                kind=kind,
                index=index,
                spec=spec,
                nonce=nonce,
                network=network,
            ),
            ports=ports or None,
            host_config=host_config,
            networking_config=api.create_networking_config({network: endpoint}),
            use_config_proxy=False,
        )
    return str(created["Id"])


def start(api: Any, container_id: str) -> None:
    """Start a created container; remove it when it cannot start."""
    try:
        with engine_errors(f"start container {container_id[:12]}"):
            api.start(container_id)
    except Exception:
        with engine_errors(f"remove container {container_id[:12]}", missing_ok=True):
            api.remove_container(container_id, force=True)
        raise


def arm(api: Any, container_id: str) -> None:
    """Give a healthy service container its restart policy."""
    with engine_errors(f"update container {container_id[:12]}", missing_ok=True):
        api.update_container(container_id, restart_policy={"Name": "unless-stopped"})


class Network:
    """The user-defined bridge network every container joins, created when missing."""

    def __init__(self, api: Any, name: str) -> None:
        self.name = name
        self._api = api
        self._ready = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        with self._lock:
            if self._ready:
                return
            with engine_errors(f"create the {self.name} network"):
                found = [n for n in self._api.networks(names=[self.name]) if n["Name"] == self.name]
                if not found:
                    self._api.create_network(
                        self.name,
                        driver="bridge",
                        labels={engine.MANAGED: "true"},
                        check_duplicate=True,
                    )
            self._ready = True

    def forget(self) -> None:
        """Check again next time (the network may have been removed behind our back)."""
        with self._lock:
            self._ready = False
