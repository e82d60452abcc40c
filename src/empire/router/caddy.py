"""The Caddy router: public apps' hostnames to their web instances, through Caddy's admin API.

The router keeps the whole desired table (one `Route` per public app) in memory and, on every
change, pushes the complete Caddy config with `POST /load`. One document that is the whole
desired state, rather than a series of path edits, because:

- it is atomic: Caddy validates and starts the new config before it stops the old one, and
  answers 400 without touching what runs when the new one is bad;
- it is graceful: the new servers listen before the old ones stop, and the old ones finish
  the requests they took, so a swap of upstreams drops no request. One kernel setting is
  needed for that under load: Caddy 2.6 opens a new SO_REUSEPORT socket with each config,
  and without `net.ipv4.tcp_migrate_req` the connections queued on the old socket when it
  closes are reset (`migrate_accept_queues`, which `ensure_caddy` calls);
- there is one source of truth: a Caddy that restarted empty gets the same table back from
  `ensure()`, and a new Empire process adopts the table of the Caddy it finds running, so the
  first change after an Empire restart does not drop the routes of the other apps.

The config (`caddy_config`) is one HTTP server, `empire`, on `listen`, with automatic HTTPS
off. Its first routes give every request an `X-Request-Id` (the client's, when it looks like
one, as Heroku does: 20-200 characters of `[A-Za-z0-9+/=-]`; else a fresh UUID), also set on
the response. Then one route per app: its hostnames (Caddy matches `Host` without the port)
to a `reverse_proxy` over its upstreams, round robin, retrying another upstream for up to 3 s
and benching a failing one for 2 s (passive health checks). A last route answers 404 to every
other Host, which is how internal apps stay unreachable. When an app has a certificate, the
PEM pair is loaded into Caddy's TLS app (tagged per app and certificate) and a second server,
`empire-tls`, on `tls_listen` serves the same routes with a TLS connection policy per app that
matches its hostnames by SNI. Still no ACME and no redirects.

`ensure_caddy` starts a Caddy when none answers at the admin address, detached (its own
session, never killed by Empire), so public apps keep serving while Empire is stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from empire.errors import SchedulerError
from empire.router import Certificate, Route

SERVER = "empire"
TLS_SERVER = "empire-tls"
NOT_ROUTED = "no app is routed for this host\n"
REQUEST_ID = "X-Request-Id"
# Heroku keeps a client's request id when it looks like one; anything else is replaced.
_CLIENT_REQUEST_ID = r"^[A-Za-z0-9+/=-]{20,200}$"
_TAG_PREFIX = "empire-app:"
_START_TIMEOUT = 10.0
# The environment a detached Caddy gets: nothing of Empire's (secrets, database URL).
_CADDY_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")

# Caddy restarts its admin server with each config: a pooled connection would be reset.
_CLOSE = {"Connection": "close"}
TCP_MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")

JSON = dict[str, Any]


class CaddyRouter:
    """Route public apps through a Caddy, configured whole through its admin API.

    Thread-safe: every method holds one lock, so pushes are serialized and the last one
    carries the latest table.
    """

    def __init__(
        self,
        admin: str = "127.0.0.1:2019",
        listen: str = ":80",
        tls_listen: str = ":443",
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.admin = admin
        self.listen = listen
        self.tls_listen = tls_listen
        self._url = f"http://{admin}"
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(10.0, connect=2.0), trust_env=False
        )
        self._lock = threading.Lock()
        self._table: dict[str, Route] = {}
        # Until the running config has been read once, removals are remembered so that
        # adopting that config does not bring the removed apps back.
        self._synced = False
        self._removed: set[str] = set()
        self._pushed: JSON | None = None  # what Caddy runs, as far as we know
        self._dirty = False  # the last push failed: Caddy may run an older table

    # ------------------------------------------------------------------ Router

    def route(self, route: Route) -> None:
        """Create or replace the app's route; no hostnames or no upstreams removes it."""
        if not route.hostnames or not route.upstreams:
            self.remove(route.app_id)
            return
        with self._lock:
            self._table[route.app_id] = route
            self._removed.discard(route.app_id)
            self._sync()
            self._apply()

    def remove(self, app_id: str) -> None:
        """Remove the app's route."""
        with self._lock:
            self._table.pop(app_id, None)
            if not self._synced:
                self._removed.add(app_id)
            self._sync()
            self._apply()

    def routes(self) -> list[Route]:
        """Return the desired routes, ordered by app name.

        Until it has succeeded once, this first reads the table the running Caddy carries
        (adoption); an unreachable Caddy is not an error here.
        """
        with self._lock:
            with contextlib.suppress(SchedulerError):
                self._sync()
            return sorted(self._table.values(), key=lambda r: (r.app_name, r.app_id))

    def ensure(self) -> bool:
        """Push the whole table again when Caddy lost it; return True when it had to.

        Caddy lost it when its config has no `empire` server (it restarted empty), when it runs
        something else than what was pushed last, or when the last push failed.
        """
        with self._lock:
            current = self._get_config()
            self._sync(current)
            running = _server(current, SERVER) is not None
            if running and not self._dirty and (self._pushed in (None, current)):
                return False
            self._apply(force=True)
            return True

    def close(self) -> None:
        """Close the HTTP client, when the router made it."""
        if self._owns_client:
            self._client.close()

    # ------------------------------------------------------------------ internals

    def _sync(self, current: JSON | None = None) -> None:
        """Once: adopt the apps that the running config routes and the table does not know."""
        if self._synced:
            return
        if current is None:
            current = self._get_config()
        for route in routes_from_config(current):
            if route.app_id not in self._table and route.app_id not in self._removed:
                self._table[route.app_id] = route
        self._removed.clear()
        self._synced = True

    def _apply(self, *, force: bool = False) -> None:
        config = caddy_config(
            self._table.values(), admin=self.admin, listen=self.listen, tls_listen=self.tls_listen
        )
        if not force and not self._dirty and config == self._pushed:
            return
        self._pushed = None
        self._dirty = True
        with self._admin_errors():
            response = self._client.post(f"{self._url}/load", json=config, headers=_CLOSE)
        if response.is_error:
            raise SchedulerError(
                f"the router (Caddy at {self.admin}) refused the configuration: "
                f"{response.status_code} {_caddy_error(response)}"
            )
        self._pushed = config
        self._dirty = False

    def _get_config(self) -> JSON | None:
        with self._admin_errors():
            response = self._client.get(f"{self._url}/config/", headers=_CLOSE)
        if response.is_error:
            raise SchedulerError(
                f"the router (Caddy at {self.admin}) did not return its configuration: "
                f"{response.status_code} {_caddy_error(response)}"
            )
        try:
            config = response.json()
        except ValueError as e:
            raise SchedulerError(
                f"the router (Caddy at {self.admin}) returned a configuration that is not JSON: {e}"
            ) from e
        return config if isinstance(config, dict) else None

    @contextlib.contextmanager
    def _admin_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.HTTPError as e:
            raise SchedulerError(
                f"the router (Caddy at {self.admin}) is unreachable: {e or type(e).__name__}"
            ) from e

    def __repr__(self) -> str:
        return f"<CaddyRouter admin={self.admin} listen={self.listen} tls={self.tls_listen}>"


# ---------------------------------------------------------------------- the config


def caddy_config(routes: Iterable[Route], *, admin: str, listen: str, tls_listen: str) -> JSON:
    """The whole Caddy config for a routing table (pure: same table, same document)."""
    table = sorted(
        (r for r in routes if r.hostnames and r.upstreams), key=lambda r: (r.app_name, r.app_id)
    )
    server_routes = [*_request_id_routes(), *_app_routes(table), _not_routed()]
    servers: JSON = {
        SERVER: {
            "listen": [listen],
            "automatic_https": {"disable": True},
            "routes": server_routes,
        }
    }
    apps: JSON = {"http": {"servers": servers}}
    with_certs = [(r, r.certificate) for r in table if r.certificate is not None]
    if with_certs:
        servers[TLS_SERVER] = {
            "listen": [tls_listen],
            "automatic_https": {"disable": True},
            "protocols": ["h1", "h2"],  # no HTTP/3: no UDP socket, no Alt-Svc
            "tls_connection_policies": [
                {
                    "match": {"sni": [h.lower() for h in r.hostnames]},
                    "certificate_selection": {"any_tag": [_tag(r.app_id, cert)]},
                }
                for r, cert in with_certs
            ],
            "routes": server_routes,
        }
        apps["tls"] = {
            "certificates": {
                "load_pem": [
                    {
                        "certificate": cert.cert_pem,
                        "key": cert.key_pem,
                        "tags": [_tag(r.app_id, cert)],
                    }
                    for r, cert in with_certs
                ]
            }
        }
    # The admin endpoint must be in every config: without it /load would move it to :2019.
    # Not persisted: the table lives in Empire, and the keys should not land in autosave.json.
    return {"admin": {"listen": admin, "config": {"persist": False}}, "apps": apps}


def _request_id_routes() -> list[JSON]:
    return [
        {
            "match": [{"not": [{"header_regexp": {REQUEST_ID: {"pattern": _CLIENT_REQUEST_ID}}}]}],
            "handle": [
                {"handler": "headers", "request": {"set": {REQUEST_ID: ["{http.request.uuid}"]}}}
            ],
        },
        {
            "handle": [
                {
                    "handler": "headers",
                    # Deferred: replaces whatever the upstream sent.
                    "response": {
                        "set": {REQUEST_ID: ["{http.request.header.X-Request-Id}"]},
                        "deferred": True,
                    },
                }
            ]
        },
    ]


def _app_routes(table: list[Route]) -> list[JSON]:
    """Exact hostnames first, then wildcards, most specific first, so each Host finds its app."""
    exact: list[JSON] = []
    wildcards: list[tuple[int, str, JSON]] = []
    for route in table:
        names = [h.lower() for h in route.hostnames if "*" not in h]
        if names:
            exact.append(_app_route(route, names))
        for name in (h.lower() for h in route.hostnames if "*" in h):
            wildcards.append((-name.count("."), name, _app_route(route, [name])))
    return exact + [r for _, _, r in sorted(wildcards, key=lambda w: (w[0], w[1]))]


def _app_route(route: Route, hostnames: list[str]) -> JSON:
    return {
        "match": [{"host": hostnames}],
        "handle": [
            # Who this route belongs to: read back by routes_from_config, usable in logs.
            {"handler": "vars", "empire_app": route.app_name, "empire_app_id": route.app_id},
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": upstream} for upstream in route.upstreams],
                "load_balancing": {
                    "selection_policy": {"policy": "round_robin"},
                    "try_duration": "3s",
                    "try_interval": "100ms",
                },
                "health_checks": {"passive": {"fail_duration": "2s", "max_fails": 1}},
            },
        ],
        "terminal": True,
    }


def _not_routed() -> JSON:
    return {
        "handle": [
            {
                "handler": "static_response",
                "status_code": 404,
                "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                "body": NOT_ROUTED,
            }
        ],
        "terminal": True,
    }


def _tag(app_id: str, certificate: Certificate) -> str:
    # The fingerprint makes a replaced certificate a new tag: a stale one left in Caddy's
    # certificate cache can never be selected.
    digest = hashlib.sha256(certificate.cert_pem.encode()).hexdigest()[:16]
    return f"{_TAG_PREFIX}{app_id}:{digest}"


def routes_from_config(config: JSON | None) -> list[Route]:
    """The routes a config made by `caddy_config` carries (what a new router adopts)."""
    server = _server(config, SERVER)
    if server is None:
        return []
    certificates = _certificates(config)
    found: dict[str, Route] = {}
    for caddy_route in server.get("routes") or []:
        with contextlib.suppress(AttributeError, KeyError, TypeError, IndexError):
            handlers = {h["handler"]: h for h in caddy_route["handle"]}
            owner, proxy = handlers["vars"], handlers["reverse_proxy"]
            app_id, app_name = str(owner["empire_app_id"]), str(owner["empire_app"])
            hostnames = tuple(str(h) for h in caddy_route["match"][0]["host"])
            upstreams = tuple(str(u["dial"]) for u in proxy["upstreams"])
            known = found.get(app_id)
            if known is not None:  # wildcard hostnames come as routes of their own
                hostnames = known.hostnames + tuple(
                    h for h in hostnames if h not in known.hostnames
                )
            found[app_id] = Route(
                app_id=app_id,
                app_name=app_name,
                hostnames=hostnames,
                upstreams=upstreams,
                certificate=certificates.get(app_id),
            )
    return list(found.values())


def _certificates(config: JSON | None) -> dict[str, Certificate]:
    """The loaded PEM pairs by app id, from their tags."""
    found: dict[str, Certificate] = {}
    try:
        entries = config["apps"]["tls"]["certificates"]["load_pem"]  # type: ignore[index]
    except (KeyError, TypeError):
        return found
    for entry in entries if isinstance(entries, list) else []:
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            for tag in entry.get("tags") or []:
                if isinstance(tag, str) and tag.startswith(_TAG_PREFIX):
                    app_id = tag[len(_TAG_PREFIX) :].rpartition(":")[0]
                    found[app_id] = Certificate(str(entry["certificate"]), str(entry["key"]))
    return found


def _server(config: JSON | None, name: str) -> JSON | None:
    try:
        server = config["apps"]["http"]["servers"][name]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return server if isinstance(server, dict) else None


def _caddy_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return response.text.strip()


# ---------------------------------------------------------------------- a local Caddy

# Started Caddys, held so that Python neither warns about them nor leaves them unreaped should
# they exit while Empire runs. Nothing ever stops them: they must outlive Empire.
_started: list[subprocess.Popen[bytes]] = []


def ensure_caddy(admin: str, listen: str, data_dir: Path, *, tune_kernel: bool = True) -> bool:
    """Start a detached Caddy when nothing answers at `admin`; return True when it started one.

    The Caddy runs `caddy run --config <data_dir>/caddy/initial.json` (an empty config but for
    the admin address; the router pushes the rest), in its own session, with HOME and XDG dirs
    under `<data_dir>/caddy`, logging to `caddy.log` and writing its pid to `caddy.pid` there.
    It outlives Empire; stop it with `kill $(cat <data_dir>/caddy/caddy.pid)`.

    With `tune_kernel`, it first turns on `net.ipv4.tcp_migrate_req` (see
    `migrate_accept_queues`) and says in `caddy.log` whether it could.
    """
    if _admin_answers(admin):
        return False
    binary = shutil.which("caddy") or "/usr/bin/caddy"
    if not Path(binary).is_file():
        raise SchedulerError(
            f"nothing answers at {admin} and caddy is not installed: install Caddy "
            "(apt-get install caddy) or point EMPIRE_ROUTER_ADMIN at a running one"
        )
    home = data_dir / "caddy"
    home.mkdir(parents=True, exist_ok=True)
    initial = home / "initial.json"
    initial.write_text(json.dumps({"admin": {"listen": admin}}))
    log_path = home / "caddy.log"
    env = {key: os.environ[key] for key in _CADDY_ENV if key in os.environ}
    env.update(
        HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config")
    )
    argv = [binary, "run", "--config", str(initial), "--pidfile", str(home / "caddy.pid")]
    with open(log_path, "ab") as log:
        log.write(f"\n==== empire: starting Caddy, admin {admin}, routes on {listen}\n".encode())
        if tune_kernel and not migrate_accept_queues():
            log.write(
                f"==== empire: could not turn on {TCP_MIGRATE_REQ} (needs root and Linux 5.14): "
                "a config reload may reset a few connections that are being accepted\n".encode()
            )
        log.flush()
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,
        )
    _started.append(process)
    deadline = time.monotonic() + _START_TIMEOUT
    while not _admin_answers(admin):
        if process.poll() is not None:
            raise SchedulerError(
                f"caddy exited (status {process.returncode}) before its admin API answered "
                f"at {admin}; {log_path}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
            raise SchedulerError(
                f"caddy's admin API did not answer at {admin} within {_START_TIMEOUT:.0f} s; "
                f"{log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.05)
    return True


def migrate_accept_queues() -> bool:
    """Turn on `net.ipv4.tcp_migrate_req` in this network namespace; return whether it is on.

    Caddy 2.6 opens a new listening socket (SO_REUSEPORT) with each config and closes the old
    one; the kernel resets the connections still waiting in the old socket's accept queue
    unless this setting moves them to the new socket. Measured on 127.0.0.1, 4 clients,
    about 800 new connections/s: 13 resets in 80 reloads with it off, 0 in 240 with it on.
    The setting does nothing else: it only changes what happens to a closing SO_REUSEPORT
    listener's queue. Needs root (or a network namespace of one's own) and Linux 5.14.
    """
    try:
        if TCP_MIGRATE_REQ.read_text().strip() != "1":
            TCP_MIGRATE_REQ.write_text("1\n")
        return TCP_MIGRATE_REQ.read_text().strip() == "1"
    except OSError:
        return False


def _admin_answers(admin: str) -> bool:
    try:
        httpx.get(f"http://{admin}/config/", timeout=1.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
