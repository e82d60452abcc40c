"""EngineRouter: the router contract on an engine, for the Docker and Swarm backends alike.

It keeps the whole table in memory and hands each change to the router container
(`empire.router.container`):

- instances and hostnames go to the resolver's records (`records.json`, written whole and
  atomically; `route` returns once the resolver serves the new generation). Caddy looks them
  up per request, so nothing is reloaded and no connection is closed;
- certificates go to Caddy's config (`empire.router.caddy`), pushed only when they change. A
  certificate Caddy refuses is left out (the others are found by halving the set) and
  reported on its app (`problems`), so one app's bad certificate never blocks another's.

A new Empire adopts the table of the router it finds (the records, and the certificates of
Caddy's running config) before its first change, so it never drops the other apps' routes.
`ensure` (twice a second, from `start`'s thread) brings the container back when it is gone,
and pushes the config and the records again when the router lost them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from empire import certs
from empire.errors import SchedulerError
from empire.periodic import Periodic
from empire.router import Certificate, Route, caddy, table
from empire.router.access import RequestListener
from empire.router.accesslog import AccessLog, Requests
from empire.router.container import ADMIN, ADMIN_HOST, RouterContainer
from empire.scheduler.kit.api import EngineAPI

log = logging.getLogger(__name__)
_APPLIED_TIMEOUT = 5.0  # seconds the resolver has to serve a new generation
_SUPERVISE_EVERY = 0.5


class EngineRouter:
    """Route apps through the router container on the app network."""

    def __init__(
        self,
        api: EngineAPI,
        *,
        network: str,
        driver: str = "bridge",
        state: Path,
        listen: str = ":80",
        tls_listen: str | None = ":443",
        name: str = "empire-router",
        drain: float = 2.0,
        requests: Sequence[RequestListener] = (),
    ) -> None:
        self.container = RouterContainer(
            api,
            name=name,
            network=network,
            driver=driver,
            state=state,
            listen=listen,
            tls_listen=tls_listen,
        )
        # Caddy keeps using an answer for REFRESH: an instance must stay up at least that long.
        self._drain = max(drain, caddy.REFRESH_SECONDS * 2)
        self._lock = threading.RLock()
        self._table: dict[str, Route] = {}
        self._adopted = False
        self._removed: set[str] = set()
        self._address: str | None = None
        self._joined: dict[str, tuple[str, str]] = {}  # network -> (subnet, our address there)
        self._container_id: str | None = None
        self._generation = 0
        self._pushed: dict[str, Any] | None = None  # the Caddy config we know it runs
        # App id -> (tag of the certificate the router refused, why): left out until replaced.
        self._refused: dict[str, tuple[str, str]] = {}
        self._state = "unknown"
        self._document = table.Document()  # records.json, re-encoded per changed app only
        self._checked: dict[bytes, str | None] = {}  # certificate pair -> `certs.unloadable`
        self._supervisor = Periodic("empire-router", _SUPERVISE_EVERY, self._supervise)
        # Each public request, from the access log, to the listeners (`router` lines, metrics).
        self.requests = Requests(self.table, requests)
        self._access = AccessLog(api, name, self.requests) if requests else None
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.container.admin_socket)),
            base_url=f"http://{ADMIN_HOST}",
            timeout=httpx.Timeout(10.0, connect=2.0),
        )

    @property
    def drain(self) -> float:
        return self._drain

    # -- the Router contract ------------------------------------------------------------------

    def route(self, route: Route) -> None:
        if route.empty:
            self.remove(route.app_id)
            return
        with self._lock:
            self._up()
            before = self._table.get(route.app_id)
            self._table[route.app_id] = route
            self._removed.discard(route.app_id)
            self._write_records()
            if _tls(before) != _tls(route):
                self._push()  # Caddy's config changes only with the certificates

    def remove(self, app_id: str) -> None:
        """Take the app's route out: out of the table at once (so that a router brought back
        later gets the table without it), then out of the running router."""
        with self._lock:
            adopting = not self._adopted
            if adopting:  # the running router may serve it: adopt all but it, then say so
                self._removed.add(app_id)
            had = self._table.pop(app_id, None)
            self._up()
            if had is not None or adopting:
                self._write_records()
                if adopting or _tls(had) is not None:
                    self._push()

    def routes(self) -> list[Route]:
        with self._lock:
            with contextlib.suppress(SchedulerError):
                self._up()
            return sorted(self._table.values(), key=lambda r: (r.app_name, r.app_id))

    def current(self, app_id: str) -> Route | None:
        with self._lock:
            with contextlib.suppress(SchedulerError):
                self._up()
            return self._table.get(app_id)

    def resolver(self) -> str | None:
        with self._lock:
            self._up()
            return self._address or None

    def join(self, network: str) -> str | None:
        with self._lock:
            self._up()
            joined = self.container.connect(network)
            if self._joined.get(network) != joined:
                self._joined[network] = joined
                self._write_records()
            return joined[1] or None

    def leave(self, network: str) -> None:
        with self._lock:
            self._up()
            self.container.disconnect(network)
            if self._joined.pop(network, None) is not None:
                self._write_records()

    def ensure(self) -> bool:
        """Start the container when it is not running; give it back what it lost."""
        with self._lock:
            try:
                redone = self._up(check=True)
                if not redone and self._records_lost():
                    self._write_records()
                    redone = True
                if not redone and self._config_lost():
                    self._push(force=True)
                    redone = True
                self._state = "up"
                return redone
            except SchedulerError:
                self._state = "down"
                raise

    def start(self) -> None:
        self._supervisor.start()
        if self._access is not None:
            self._access.start()

    def close(self) -> None:
        if self._access is not None:
            self._access.close()
        self._supervisor.close()
        self._http.close()

    def table(self) -> list[Route]:
        """The routes as this process knows them, without asking the router container."""
        with self._lock:
            return list(self._table.values())

    def status(self) -> dict[str, object]:
        with self._lock:
            return {
                "router": self._state,
                "container": self.container.name,
                "address": self._address,
                "routes": len(self._table),
                "problems": self.problems(),
            }

    def problems(self) -> dict[str, str]:
        """App id -> why the router leaves something of the app out (a refused certificate)."""
        with self._lock:
            return {app_id: why for app_id, (_, why) in self._refused.items()}

    # -- the container and what it serves -----------------------------------------------------

    def _up(self, *, check: bool = False) -> bool:
        """Once (or when `check`): the container runs; the table is adopted. True if made."""
        if self._container_id is not None and not check:
            return False
        running = self.container.ensure()
        self._state = "up"
        first = self._container_id is None  # this process has not seen it yet
        made = running.started or (not first and running.id != self._container_id)
        self._container_id = running.id
        self._address = running.address
        if not self._adopted:
            self._adopt()
        if made:  # a new container: back on every network it served
            for network in list(self._joined):
                self._joined[network] = self.container.connect(network)
        if made or first:  # give it the records and config it does not have
            if made or self._records_lost():
                self._write_records()
            if made or self._config_lost():
                self._push(force=True)
        return made

    def _adopt(self) -> None:
        """Take over the table the running router serves (but what was removed meanwhile)."""
        document = _read_json(self.container.records_file)
        certificates = caddy.certificates_of(self._get_config(quiet=True))
        for route in table.routes(document, certificates):
            if route.app_id not in self._table and route.app_id not in self._removed:
                self._table[route.app_id] = route
        for network, joined in table.networks(document).items():
            self._joined.setdefault(network, joined)
        self._generation = table.generation(document)
        self._removed.clear()
        self._adopted = True

    def _write_records(self) -> None:
        self._generation += 1
        text = self._document.render(
            self._table,
            generation=self._generation,
            address=self._address,
            name=self.container.name,
            networks=self._joined,
        )
        path = self.container.records_file
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text)
        os.replace(temporary, path)
        self._wait_applied(self._generation)

    def _wait_applied(self, generation: int) -> None:
        deadline = time.monotonic() + _APPLIED_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                served = self._served_generation()
                if served >= generation:
                    return
                last = f"it serves generation {served}"
            except OSError as e:
                last = str(e) or type(e).__name__
            time.sleep(0.01)
        raise SchedulerError(
            f"the router's resolver did not take generation {generation} within "
            f"{_APPLIED_TIMEOUT:.0f} s ({last}): see `docker logs {self.container.name}`"
        )

    def _served_generation(self) -> int:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(str(self.container.control_socket))
            client.sendall(b"generation\n")
            return int(client.recv(64).decode().strip() or "0")

    def _records_lost(self) -> bool:
        document = _read_json(self.container.records_file)
        return table.generation(document) != self._generation

    def _config_lost(self) -> bool:
        current = self._get_config(quiet=True)
        return (
            current is None
            or caddy.PUBLIC not in _servers(current)
            or (self._pushed is not None and current != self._pushed)
        )

    # -- Caddy's config -----------------------------------------------------------------------

    def _push(self, *, force: bool = False) -> None:
        """Push the config when its certificates changed; leave out the ones Caddy refuses."""
        certificates = table.certificates(self._table.values())
        live = {app_id for app_id, _, _ in certificates}
        for app_id in [a for a in self._refused if a not in live]:
            del self._refused[app_id]  # the app, or its certificate, is gone
        wanted = []
        for entry in certificates:
            app_id, _, certificate = entry
            refused = self._refused.get(app_id)
            if refused is not None and refused[0] == caddy.tag(app_id, certificate):
                continue  # refused before: tried again once the app attaches another one
            problem = self._unloadable(certificate)
            if problem is not None:
                self._refuse(entry, problem)
                continue
            wanted.append(entry)
        document = caddy.config(wanted, admin=ADMIN)
        if not force and document == self._pushed:
            return
        error = self._load(document)
        if error is None:
            for app_id, _, _ in wanted:
                self._refused.pop(app_id, None)  # its new certificate is served
            return
        if not wanted:
            raise SchedulerError(f"the router refused its configuration: {error}")
        good, bad = self._split(wanted)
        for entry in bad:
            self._refuse(entry, error)
        final = self._load(caddy.config(good, admin=ADMIN))
        if final is not None:
            raise SchedulerError(f"the router refused its configuration: {final}")
        for app_id, _, _ in good:
            self._refused.pop(app_id, None)

    def _unloadable(self, certificate: Certificate) -> str | None:
        """`certs.unloadable`, remembered per pair: parsing every key of the table again on
        each change of certificates cost milliseconds per app."""
        key = hashlib.sha256(f"{certificate.cert_pem}\0{certificate.key_pem}".encode()).digest()
        if key not in self._checked:
            if len(self._checked) > max(1024, 2 * len(self._table)):
                self._checked.clear()  # certificates since replaced: checked again if back
            self._checked[key] = certs.unloadable(certificate.cert_pem, certificate.key_pem)
        return self._checked[key]

    def _refuse(self, entry: tuple[str, tuple[str, ...], Certificate], why: str) -> None:
        app_id, names, certificate = entry
        text = f"the router left out the certificate for {', '.join(names)}: {why}"
        self._refused[app_id] = (caddy.tag(app_id, certificate), text)
        log.error("router: app %s: %s", app_id, text)

    def _split(
        self, certificates: list[tuple[str, tuple[str, ...], Certificate]]
    ) -> tuple[list[Any], list[Any]]:
        """Halve the set until each refused certificate is alone: (accepted, refused)."""
        if len(certificates) == 1:
            return [], certificates
        middle = len(certificates) // 2
        good: list[Any] = []
        bad: list[Any] = []
        for half in (certificates[:middle], certificates[middle:]):
            if self._load(caddy.config(good + half, admin=ADMIN)) is None:
                good += half
            else:
                accepted, refused = self._split(half)
                good += accepted
                bad += refused
        return good, bad

    def _load(self, document: dict[str, Any]) -> str | None:
        """Load a config; None when Caddy took it, else its error."""
        with self._errors():
            response = self._http.post("/load", json=document)
        if response.is_error:
            return f"{response.status_code} {_caddy_error(response)}"
        self._pushed = document
        self.loads = getattr(self, "loads", 0) + 1  # the metrics' empire_router_reloads_total
        return None

    def _get_config(self, *, quiet: bool = False) -> dict[str, Any] | None:
        try:
            with self._errors():
                response = self._http.get("/config/")
        except SchedulerError:
            if quiet:
                return None
            raise
        if response.is_error:
            return None
        try:
            found = response.json()
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as e:
            raise SchedulerError(
                f"the router (Caddy in {self.container.name}, admin "
                f"{self.container.admin_socket}) is unreachable: {e or type(e).__name__}"
            ) from e

    def _supervise(self) -> None:
        try:
            if self.ensure():
                log.warning("router: %s was brought back", self.container.name)
        except SchedulerError as e:
            log.error("router: %s", e)

    def __repr__(self) -> str:
        return f"<EngineRouter {self.container.name} on {self.container.network}>"


def _tls(route: Route | None) -> tuple[Certificate, tuple[str, ...]] | None:
    """What of a route Caddy's config holds: its certificate and the names it serves."""
    if route is None or route.certificate is None or not route.hostnames:
        return None
    return route.certificate, route.hostnames


def _servers(document: dict[str, Any]) -> dict[str, Any]:
    try:
        servers = document["apps"]["http"]["servers"]
    except (KeyError, TypeError):
        return {}
    return servers if isinstance(servers, dict) else {}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _caddy_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return response.text.strip()
