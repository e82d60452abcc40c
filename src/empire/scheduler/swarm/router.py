"""The swarm's router: a Caddy container on the overlay network, driven through its admin API.

A process on the host cannot reach the overlay (nor resolve `tasks.<service>`), so Caddy runs
as a container of the manager's engine (`docker run` on the engine Empire talks to), attached
to the attachable overlay network, with its HTTP (and TLS) port published on the manager's
address of choice (`listen`, e.g. `127.0.0.1:80`). Its admin API listens on a unix socket in a
host directory bind-mounted into the container (`admin_dir`): no admin port is open on any
network, and Empire reaches it through the file system (so Empire runs on that manager's
host). Caddy autosaves its config there and starts with `--resume`, so a restarted container
serves the last table without Empire.

`SwarmRouter` implements `empire.router.Router`: it keeps the desired table, pushes the whole
config (`caddy.config`) with `POST /load` on every change (atomic, graceful), adopts the table
of the Caddy it finds, and starts the container when it does not run (or was made for another
image, network or address); `ensure()` also pushes the table again when Caddy lost it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx

from empire.errors import SchedulerError
from empire.router import Route
from empire.scheduler import labels
from empire.scheduler.kit.api import engine_api
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.swarm import caddy, engine

MOUNT = "/run/empire-router"
SETUP = "empire.router.setup"  # hash of what the container was made with
ADMIN_HOST = "empire-router"  # the Host our admin requests carry: the only origin Caddy allows
_START_TIMEOUT = 15.0


class SwarmRouter:
    """Route public apps through a Caddy container on the swarm's overlay network."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        image: str,
        network: str,
        admin_dir: Path,
        listen: str = "127.0.0.1:80",
        tls_listen: str | None = None,
        name: str = "empire-router",
    ) -> None:
        self._api = engine_api(client)
        self.image = image
        self.network = network
        self.admin_dir = admin_dir
        self.listen = listen
        self.tls_listen = tls_listen
        self.name = name
        self.socket = admin_dir / "admin.sock"
        self._admin = {"listen": f"unix/{MOUNT}/admin.sock", "origins": [ADMIN_HOST]}
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            base_url=f"http://{ADMIN_HOST}",
            timeout=httpx.Timeout(10.0, connect=2.0),
        )
        self._setup = engine.digest(
            [image, network, str(admin_dir), listen, tls_listen, self._admin, MOUNT]
        )
        self._lock = threading.Lock()
        self._table: dict[str, Route] = {}
        self._adopted = False
        self._pushed: dict[str, Any] | None = None

    # -- the Router contract ------------------------------------------------------------------

    def route(self, route: Route) -> None:
        if not route.hostnames or not route.upstreams:
            self.remove(route.app_id)
            return
        with self._lock:
            self._start()  # one inspect when it runs; started again when it does not
            self._adopt()
            self._table[route.app_id] = route
            self._push()

    def remove(self, app_id: str) -> None:
        with self._lock:
            self._start()
            self._adopt()
            if self._table.pop(app_id, None) is not None or self._pushed is None:
                self._push()

    def routes(self) -> list[Route]:
        with self._lock:
            with contextlib.suppress(SchedulerError):
                self._adopt()
            return sorted(self._table.values(), key=lambda r: (r.app_name, r.app_id))

    def ensure(self) -> bool:
        """Start the container when it is not running; push the table when Caddy lost it."""
        with self._lock:
            started = self._start()
            self._adopt()
            if not started and self._get() == self._document():
                return False
            self._push(force=True)
            return True

    def start(self) -> None:
        """Run the Caddy container when it does not run yet, and wait for its admin API."""
        with self._lock:
            self._start()

    def close(self) -> None:
        self._http.close()

    # -- the container ------------------------------------------------------------------------

    def _start(self) -> bool:
        with engine_errors(f"inspect the router container {self.name}", missing_ok=True):
            found = self._api.inspect_container(self.name)
            tags = (found.get("Config") or {}).get("Labels") or {}
            if (found.get("State") or {}).get("Running") and tags.get(SETUP) == self._setup:
                return False
            # Stopped, or made for another image, network or address: made again.
            self._api.remove_container(self.name, force=True)
        engine.ensure_network(self._api, self.network)
        self.admin_dir.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        initial = self.admin_dir / "initial.json"
        initial.write_text(json.dumps({"admin": self._admin}))
        ports = {80: _binding(self.listen)}
        if self.tls_listen:
            ports[443] = _binding(self.tls_listen)
        host_config = self._api.create_host_config(
            binds={str(self.admin_dir): {"bind": MOUNT, "mode": "rw"}},
            port_bindings=ports,
            restart_policy={"Name": "unless-stopped"},
            network_mode=self.network,
            security_opt=["no-new-privileges"],
            log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
        )
        for attempt in range(3):
            try:
                with engine_errors(f"start the router container {self.name} ({self.image})"):
                    self._create(host_config, list(ports))
                break
            except SchedulerError as e:
                # A node drops an overlay it no longer uses: right after the last container
                # left it, a new one may not find it for a moment.
                if attempt == 2 or "not found" not in str(e):
                    raise
                with engine_errors(f"remove the router container {self.name}", missing_ok=True):
                    self._api.remove_container(self.name, force=True)
                time.sleep(0.5)
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                self._http.get("/config/", headers={"Host": ADMIN_HOST})
                break
            except httpx.HTTPError as e:
                if time.monotonic() > deadline:
                    raise SchedulerError(
                        f"the router container {self.name} did not answer on {self.socket} "
                        f"within {_START_TIMEOUT:.0f}s ({e}): see `docker logs {self.name}`"
                    ) from e
                time.sleep(0.1)
        self._pushed = None
        return True

    def _create(self, host_config: dict[str, Any], ports: list[int]) -> None:
        self._api.create_container(
            self.image,
            entrypoint=["caddy"],
            command=["run", "--config", f"{MOUNT}/initial.json", "--resume"],
            name=self.name,
            environment={
                "HOME": MOUNT,
                "XDG_DATA_HOME": f"{MOUNT}/data",
                "XDG_CONFIG_HOME": f"{MOUNT}/config",
            },
            labels={labels.MANAGED: "true", labels.NETWORK: self.network, SETUP: self._setup},
            ports=ports,
            host_config=host_config,
        )
        self._api.start(self.name)

    # -- the admin API ------------------------------------------------------------------------

    def _adopt(self) -> None:
        """Once: take over the routes the running Caddy carries and the table does not know."""
        if self._adopted:
            return
        for route in caddy.routes_from(self._get()):
            self._table.setdefault(route.app_id, route)
        self._adopted = True

    def _document(self) -> dict[str, Any]:
        tls = self.tls_listen and ":443"
        return caddy.config(
            self._table.values(), admin=self._admin, listen=":80", tls_listen=tls or ":443"
        )

    def _push(self, *, force: bool = False) -> None:
        document = self._document()
        if not force and document == self._pushed:
            return
        self._pushed = None
        with self._errors():
            response = self._http.post("/load", json=document)
        if response.is_error:
            raise SchedulerError(
                f"the router (Caddy in {self.name}) refused the configuration: "
                f"{response.status_code} {response.text.strip()}"
            )
        self._pushed = document

    def _get(self) -> dict[str, Any] | None:
        with self._errors():
            response = self._http.get("/config/")
        if response.is_error:
            raise SchedulerError(
                f"the router (Caddy in {self.name}) did not return its configuration: "
                f"{response.status_code} {response.text.strip()}"
            )
        document = response.json()
        return document if isinstance(document, dict) else None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as e:
            raise SchedulerError(
                f"the router (Caddy in {self.name}, admin {self.socket}) is unreachable: {e}; "
                "`ensure()` starts it again"
            ) from e

    def __repr__(self) -> str:
        return f"<SwarmRouter {self.name} on {self.network}, listen {self.listen}>"


def _binding(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return (host or "0.0.0.0", int(port))
