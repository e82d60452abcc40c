"""The router container: Caddy and the resolver, on the app network, at the kept address.

It is a plain container of the engine Empire talks to (on Swarm, a manager's, joined to the
attachable overlay), made from the router image (`empire.router.image`), restarted by the
engine whenever it exits (`restart: always`), so public and internal traffic go on while
Empire is stopped. Its state directory on the host (0700) is mounted at `/run/empire-router`:
Caddy's admin socket, the resolver's control socket and records, and the first config. Caddy
keeps its running config (certificates included) in the container's own file system, not in
that directory.

Published: the public HTTP server (container port 8080) on `listen`, the TLS one (8443) on
`tls_listen`. The internal server (80) and the resolver (53) are reached on the network only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from empire.errors import SchedulerError
from empire.router import caddy, image
from empire.scheduler import labels
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.network import ensure_network

SETUP = "empire.router.setup"  # a hash of what the container was made with
ADMIN_HOST = "empire-router"  # the Host our admin requests carry: the only origin Caddy allows
ADMIN = {"listen": f"unix/{image.STATE}/admin.sock", "origins": [ADMIN_HOST]}
_START_TIMEOUT = 30.0
# Caddy opens a new SO_REUSEPORT listener with each config and closes the old one: without this
# the connections still queued on the old one are reset (measured: 13 in 80 reloads at 800 new
# connections/s; none with it). Only certificate changes reload the router; Linux >= 5.14.
MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")
_SYSCTLS = {"net.ipv4.tcp_migrate_req": "1"}


@dataclass(frozen=True, slots=True)
class Running:
    """What the engine says of the router container."""

    id: str
    address: str
    started: bool  # made or started by this call


class RouterContainer:
    """Makes the router container run, as configured."""

    def __init__(
        self,
        api: EngineAPI,
        *,
        name: str,
        network: str,
        driver: str,
        state: Path,
        listen: str,
        tls_listen: str | None,
    ) -> None:
        self.api = api
        self.name = name
        self.network = network
        self.driver = driver
        self.state = state
        self.listen = listen
        self.tls_listen = tls_listen
        self.admin_socket = state / "admin.sock"
        self.control_socket = state / "resolver.sock"
        self.records_file = state / "records.json"
        self._setup: str | None = None  # what the running container was checked to be made with

    def ensure(self) -> Running:
        """Run the container (made again when it was made for another image, network or
        address) and wait until Caddy's admin API and the resolver answer. When it runs as
        it was made, this costs one inspect."""
        found = self._inspect()
        if found is not None and self._setup is not None:
            tags = (found.get("Config") or {}).get("Labels") or {}
            state = found.get("State") or {}
            if tags.get(SETUP) == self._setup and state.get("Running"):
                if state.get("Restarting"):  # crashed: the engine is starting it again
                    return self._ready(started=True)
                return Running(str(found["Id"]), self._address(found), False)
        network = ensure_network(self.api, self.network, driver=self.driver)
        wanted = image.ensure(self.api)
        setup = json.dumps(
            [wanted, self.network, network.reserved, self.listen, self.tls_listen, str(self.state)]
        )
        self._setup = setup
        if found is not None:
            tags = (found.get("Config") or {}).get("Labels") or {}
            state = found.get("State") or {}
            if tags.get(SETUP) == setup and state.get("Running"):
                return Running(str(found["Id"]), self._address(found), False)
            if tags.get(SETUP) == setup and state.get("Restarting"):
                return self._ready(started=True)
            if tags.get(SETUP) == setup and state.get("Status") in ("created", "exited"):
                kit.start(self.api, str(found["Id"]))
                return self._ready(started=True)
            kit.remove(self.api, str(found["Id"]), None)
        self._create(wanted, setup, network.reserved)
        return self._ready(started=True)

    def connect(self, network: str) -> tuple[str, str]:
        """Join another network (made when missing, with the router's address kept) at that
        address; return (its subnet, the router's address there)."""
        found = ensure_network(self.api, network, driver=self.driver)
        current = self._inspect() or {}
        attached = ((current.get("NetworkSettings") or {}).get("Networks") or {}).get(network)
        if attached is None:
            with engine_errors(f"connect the router to the {network} network"):
                self.api.connect_container_to_network(
                    self.name, network, ipv4_address=found.reserved
                )
            current = self._inspect() or {}
        address = str(
            (((current.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}).get(
                "IPAddress"
            )
            or ""
        )
        return found.subnet or "", address

    def disconnect(self, network: str) -> None:
        """Leave that network and remove it (what is still on it keeps it)."""
        with engine_errors(f"disconnect the router from {network}", missing_ok=True):
            self.api.disconnect_container_from_network(self.name, network, force=True)
        with engine_errors(f"remove the {network} network", missing_ok=True):
            self.api.remove_network(network)

    def _inspect(self) -> Json | None:
        with engine_errors(f"inspect the router container {self.name}", missing_ok=True):
            return dict(self.api.inspect_container(self.name))
        return None

    def _address(self, found: Json) -> str:
        networks = (found.get("NetworkSettings") or {}).get("Networks") or {}
        return str((networks.get(self.network) or {}).get("IPAddress") or "")

    def _create(self, wanted: str, setup: str, reserved: str | None) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)
        for stale in (self.admin_socket, self.control_socket):
            stale.unlink(missing_ok=True)
        (self.state / "initial.json").write_text(json.dumps({"admin": ADMIN}))
        ports: dict[int, tuple[str, int]] = {caddy.HTTP_PORT: _binding(self.listen)}
        if self.tls_listen:
            ports[caddy.TLS_PORT] = _binding(self.tls_listen)
        host_config = self.api.create_host_config(
            binds={str(self.state): {"bind": image.STATE, "mode": "rw"}},
            port_bindings=ports,
            restart_policy={"Name": "always"},
            network_mode=self.network,
            security_opt=kit.SECURITY_OPT,
            init=True,
            log_config=kit.LOG_CONFIG,
            sysctls=_SYSCTLS if MIGRATE_REQ.exists() else None,
        )
        endpoint = self.api.create_endpoint_config(ipv4_address=reserved)
        with engine_errors(f"create the router container {self.name} ({wanted})"):
            created = self.api.create_container(
                wanted,
                name=self.name,
                labels={labels.MANAGED: "true", labels.NETWORK: self.network, SETUP: setup},
                ports=list(ports),
                host_config=host_config,
                networking_config=self.api.create_networking_config({self.network: endpoint}),
            )
        kit.start(self.api, str(created["Id"]))

    def _ready(self, *, started: bool) -> Running:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            found = self._inspect()
            state = (found or {}).get("State") or {}
            running = state.get("Running") and not state.get("Restarting")
            if running and self.admin_socket.exists() and self.control_socket.exists():
                assert found is not None
                return Running(str(found["Id"]), self._address(found), started)
            if time.monotonic() > deadline:
                raise SchedulerError(
                    f"the router container {self.name} did not start within "
                    f"{_START_TIMEOUT:.0f} s: see `docker logs {self.name}`"
                )
            time.sleep(0.05)


def _binding(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    try:
        return (host.strip("[]") or "0.0.0.0", int(port))
    except ValueError as e:
        raise SchedulerError(f"the router's address {listen!r} is not host:port") from e
