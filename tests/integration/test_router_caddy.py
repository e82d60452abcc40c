"""CaddyRouter and ensure_caddy against a real Caddy and real upstreams, all on 127.0.0.1.

Each test gets its own Caddy (`CaddyServer`: admin API on a free port, HOME/XDG in a temp dir)
and the router listens on free loopback ports. Upstreams are tiny HTTP servers in threads of
the test process; each answers with its own name and records the `X-Request-Id` it received.
The swap-under-load test runs its whole scenario in a network namespace of its own (see there).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from empire.errors import SchedulerError
from empire.router import Certificate, Route
from empire.router.caddy import NOT_ROUTED, TCP_MIGRATE_REQ, CaddyRouter, ensure_caddy
from support.services import CaddyServer, free_port

HOST = "www.example.com"
APP_ID = "3f0e4a5c-0000-4000-8000-000000000001"
JSON = dict[str, Any]


# ---------------------------------------------------------------------- upstreams


@dataclass
class Upstream:
    """A threaded HTTP server on 127.0.0.1 that answers `<name>` to every GET."""

    name: str
    seen_request_ids: list[str | None] = field(default_factory=list)
    hits: int = 0

    def __post_init__(self) -> None:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.hits += 1
                upstream.seen_request_ids.append(self.headers.get("X-Request-Id"))
                body = upstream.name.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Request-Id", "set-by-the-upstream")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._stopped = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def upstream() -> Iterator[Callable[[str], Upstream]]:
    started: list[Upstream] = []

    def start(name: str) -> Upstream:
        started.append(Upstream(name))
        return started[-1]

    yield start
    for u in started:
        u.stop()


# ---------------------------------------------------------------------- Caddy and routers


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[CaddyServer]:
    server = CaddyServer(base_dir=tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class Ports:
    http: int
    tls: int


@pytest.fixture
def ports() -> Ports:
    return Ports(http=free_port(), tls=free_port())


@pytest.fixture
def make_router(caddy: CaddyServer, ports: Ports) -> Iterator[Callable[[], CaddyRouter]]:
    """Routers on the test's Caddy, all listening on the same loopback ports."""
    made: list[CaddyRouter] = []

    def make() -> CaddyRouter:
        made.append(
            CaddyRouter(caddy.admin_address, f"127.0.0.1:{ports.http}", f"127.0.0.1:{ports.tls}")
        )
        return made[-1]

    yield make
    for router in made:
        router.close()


@pytest.fixture
def router(make_router: Callable[[], CaddyRouter]) -> CaddyRouter:
    return make_router()


def app_route(
    upstreams: list[Upstream],
    hostnames: tuple[str, ...] = (HOST,),
    *,
    app_id: str = APP_ID,
    app_name: str = "acme-inc",
    certificate: Certificate | None = None,
) -> Route:
    return Route(
        app_id=app_id,
        app_name=app_name,
        hostnames=hostnames,
        upstreams=tuple(u.address for u in upstreams),
        certificate=certificate,
    )


# ---------------------------------------------------------------------- clients


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: str


def get(port: int, host: str, headers: dict[str, str] | None = None) -> Response:
    """GET / through the router on a new connection, with the given Host."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read().decode())
    finally:
        conn.close()


def https_get(port: int, server_name: str, cafile: Path) -> tuple[Response, bytes]:
    """GET / over TLS to 127.0.0.1 with SNI and Host `server_name`, trusting only `cafile`.

    Returns the response and the DER bytes of the certificate the server presented.
    """
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        peer = tls.getpeercert(binary_form=True)
        assert peer is not None
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        resp = http.client.HTTPResponse(tls)
        resp.begin()
        return Response(resp.status, resp.headers, resp.read().decode()), peer


def self_signed(directory: Path, hostname: str) -> tuple[Certificate, Path]:
    """A self-signed certificate for `hostname` (openssl), and the path of its PEM file."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "2",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(cert),
            "-subj", f"/CN={hostname}", "-addext", f"subjectAltName=DNS:{hostname}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return Certificate(cert_pem=cert.read_text(), key_pem=key.read_text()), cert


def pem_to_der(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


# ---------------------------------------------------------------------- routing


def test_a_route_reaches_every_upstream_round_robin(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    a, b = upstream("a"), upstream("b")
    router.route(app_route([a, b]))

    bodies = [get(ports.http, HOST).body for _ in range(10)]

    assert sorted(set(bodies)) == ["a", "b"]
    assert bodies.count("a") == bodies.count("b") == 5  # round robin, not random
    assert get(ports.http, "WWW.Example.COM").status == 200  # hostnames are case-insensitive
    assert router.routes() == [app_route([a, b])]


def test_an_unknown_host_and_an_internal_app_get_the_catch_all_404(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    public, internal = upstream("public"), upstream("internal")
    router.route(app_route([public]))
    # An internal app has running instances but no route (no domains): the router never
    # reaches them, whatever Host is asked for.
    router.route(
        Route(
            app_id="internal-id", app_name="internal", hostnames=(), upstreams=(internal.address,)
        )
    )

    for host in ("internal", "web.internal", "unknown.example.com", internal.address, "127.0.0.1"):
        response = get(ports.http, host)
        assert (response.status, response.body) == (404, NOT_ROUTED), host
        assert response.headers["X-Request-Id"]

    assert internal.hits == 0
    assert [r.app_name for r in router.routes()] == ["acme-inc"]


def test_x_request_id_is_set_on_the_request_and_the_response(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    a = upstream("a")
    router.route(app_route([a]))

    first, second = get(ports.http, HOST), get(ports.http, HOST)

    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert a.seen_request_ids == ids  # what the upstream saw is what the client gets back
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)  # fresh UUIDs
    assert first.headers.get_all("X-Request-Id") == [ids[0]]  # the upstream's is replaced


def test_a_client_request_id_is_kept_when_it_looks_like_one(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    a = upstream("a")
    router.route(app_route([a]))
    client_id = "5d0e9a7c-1f2b-4c3d-9e8f-0a1b2c3d4e5f"

    kept = get(ports.http, HOST, {"X-Request-Id": client_id})
    # As on Heroku: 20-200 characters of [A-Za-z0-9+/=-], else the router makes its own.
    replaced = get(ports.http, HOST, {"X-Request-Id": "short"})

    assert kept.headers["X-Request-Id"] == client_id
    assert replaced.headers["X-Request-Id"] not in ("short", client_id)
    assert a.seen_request_ids == [client_id, replaced.headers["X-Request-Id"]]


def test_remove_stops_routing(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    a, b = upstream("a"), upstream("b")
    router.route(app_route([a]))
    router.route(app_route([b], ("api.example.com",), app_id="other", app_name="other"))
    assert get(ports.http, HOST).body == "a"

    router.remove(APP_ID)

    assert get(ports.http, HOST).status == 404
    assert get(ports.http, "api.example.com").body == "b"
    assert [r.app_id for r in router.routes()] == ["other"]

    # A route without upstreams (scaled to 0, in maintenance) removes the app too.
    router.route(app_route([], ("api.example.com",), app_id="other", app_name="other"))
    assert get(ports.http, "api.example.com").status == 404
    assert router.routes() == []


def test_routes_from_many_threads_all_land(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    """The scheduler routes from several threads: no change is lost to a concurrent push."""
    a = upstream("a")
    names = [f"app{i}" for i in range(8)]
    errors: list[BaseException] = []

    def route(name: str) -> None:
        try:
            router.route(app_route([a], (f"{name}.example.com",), app_id=name, app_name=name))
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=route, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert [r.app_name for r in router.routes()] == names
    assert all(get(ports.http, f"{name}.example.com").body == "a" for name in names)


def test_a_dying_upstream_is_retried_on_another(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    a, b = upstream("a"), upstream("b")
    router.route(app_route([a, b]))
    b.stop()  # still in the route: connections to it are refused

    responses = [get(ports.http, HOST) for _ in range(40)]

    assert [(r.status, r.body) for r in responses] == [(200, "a")] * 40


def test_upstream_swaps_under_load_drop_no_request(tmp_path: Path) -> None:
    """10 deploys' worth of swaps (start new, route, drain, stop old) under a bounded load.

    Caddy 2.6 opens a new listening socket with each config; unless the kernel migrates the
    accept queue of the old one (`net.ipv4.tcp_migrate_req`), a connection caught in it is
    reset. `ensure_caddy` turns that on where Empire starts Caddy; a test must not change the
    machine's own setting, so the whole scenario (Caddy started by `ensure_caddy`, upstreams,
    clients) runs in a network namespace of its own.
    """
    tests_dir = Path(__file__).resolve().parents[1]
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "-r", "--net"]
    scenario = [sys.executable, __file__, "swap-scenario", str(tmp_path)]
    try:
        result = subprocess.run(
            [*unshare, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *scenario],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(tests_dir)},
            check=False,
        )
    finally:  # the scenario stops its Caddy; if the scenario itself was killed, do it here
        pidfile = tmp_path / "caddy" / "caddy.pid"
        if pidfile.exists() and Path(f"/proc/{pidfile.read_text().strip()}").exists():
            _stop_pid(int(pidfile.read_text().strip()))
    assert result.returncode == 0, f"the scenario failed:\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"\nswaps under load: {len(report['failed'])} failed of {report['requests']} requests, "
        f"{report['during_swaps']} of them during the swaps"
    )
    assert report["started"] is True and report["tcp_migrate_req"] == "1"
    assert report["failed"] == [], f"{len(report['failed'])} of {report['requests']} failed"
    assert report["during_swaps"] >= 100  # the load really overlapped the swaps
    assert report["last"] == ["gen10-a", "gen10-b"]


def swaps_under_load(router: CaddyRouter, port: int, upstream: Callable[[str], Upstream]) -> JSON:
    """4 clients x at most 300 GETs (new connection each) while 10 swaps run; what they saw."""
    current = [upstream("gen0-a"), upstream("gen0-b")]
    router.route(app_route(current))
    stop = threading.Event()
    lock = threading.Lock()
    outcomes: list[tuple[float, str]] = []  # (when, "ok" or what went wrong)

    def load() -> None:
        for _ in range(300):  # bounded: stops by itself
            if stop.is_set():
                return
            try:
                response = get(port, HOST)
                outcome = "ok" if response.status == 200 else f"{response.status} {response.body}"
            except OSError as e:
                outcome = f"{type(e).__name__}: {e}"
            with lock:
                outcomes.append((time.monotonic(), outcome))
            time.sleep(0.008)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.1)
        began = time.monotonic()
        for generation in range(1, 11):
            new = [upstream(f"gen{generation}-a"), upstream(f"gen{generation}-b")]
            router.route(app_route(new))
            time.sleep(0.1)  # drain: requests the previous config took are still on their way
            for old in current:
                old.stop()
            current = new
            time.sleep(0.1)
        ended = time.monotonic()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    return {
        "requests": len(outcomes),
        "during_swaps": sum(1 for when, _ in outcomes if began <= when <= ended),
        "failed": [outcome for _, outcome in outcomes if outcome != "ok"],
        "last": sorted({get(port, HOST).body for _ in range(4)}),
    }


def _swap_scenario(data_dir: Path) -> JSON:
    """In a network namespace of our own: Caddy as `empire server` starts it, then swaps."""
    admin, listen, tls = (f"127.0.0.1:{free_port()}" for _ in range(3))
    started = ensure_caddy(admin, listen, data_dir)
    pid = int((data_dir / "caddy" / "caddy.pid").read_text().strip())
    upstreams: list[Upstream] = []
    router = CaddyRouter(admin, listen, tls)

    def start(name: str) -> Upstream:
        upstreams.append(Upstream(name))
        return upstreams[-1]

    try:
        report = swaps_under_load(router, int(listen.rpartition(":")[2]), start)
    finally:
        router.close()
        for u in upstreams:
            u.stop()
        _stop_pid(pid)
    report["started"] = started
    report["tcp_migrate_req"] = TCP_MIGRATE_REQ.read_text().strip()
    return report


# ---------------------------------------------------------------------- Caddy comes and goes


def test_ensure_restores_the_table_when_caddy_restarted_empty(
    caddy: CaddyServer, router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    a = upstream("a")
    router.route(app_route([a]))
    assert router.ensure() is False  # nothing lost: nothing pushed

    caddy.stop()
    caddy.start()  # from its initial config: the admin API and nothing else
    with pytest.raises(OSError):
        get(ports.http, HOST)

    assert router.ensure() is True
    assert get(ports.http, HOST).body == "a"
    assert router.ensure() is False


def test_an_unreachable_caddy_is_a_scheduler_error_and_the_table_is_kept(
    tmp_path: Path, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    caddy = CaddyServer(base_dir=tmp_path)  # not started yet
    router = CaddyRouter(caddy.admin_address, f"127.0.0.1:{ports.http}", f"127.0.0.1:{ports.tls}")
    a = upstream("a")
    try:
        with pytest.raises(SchedulerError, match=rf"Caddy at {caddy.admin_address}\) is unreach"):
            router.route(app_route([a]))
        assert router.routes() == [app_route([a])]
        with pytest.raises(SchedulerError, match="unreachable"):
            router.ensure()

        caddy.start()
        assert router.ensure() is True
        assert get(ports.http, HOST).body == "a"
    finally:
        router.close()
        caddy.close()


def test_a_config_caddy_refuses_is_a_scheduler_error(
    caddy: CaddyServer, ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    router = CaddyRouter(caddy.admin_address, "127.0.0.1:not-a-port", f"127.0.0.1:{ports.tls}")
    try:
        with pytest.raises(SchedulerError, match="refused the configuration: 400"):
            router.route(app_route([upstream("a")]))
    finally:
        router.close()
    assert caddy.config() == {"admin": caddy.admin_config}  # what ran before is untouched


def test_a_new_router_adopts_the_table_caddy_runs(
    make_router: Callable[[], CaddyRouter], ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    """Empire restarted: its first change must not drop the other apps' routes."""
    a, b, c = upstream("a"), upstream("b"), upstream("c")
    before = make_router()
    before.route(app_route([a]))
    before.route(app_route([b], ("api.example.com",), app_id="other", app_name="other"))

    after = make_router()  # a new Empire process, same Caddy
    assert after.routes() == before.routes()  # what the scheduler compares its wishes with
    assert after.ensure() is False  # nothing lost: nothing pushed
    after.route(app_route([c], ("new.example.com",), app_id="new", app_name="new"))

    assert get(ports.http, HOST).body == "a"
    assert get(ports.http, "api.example.com").body == "b"
    assert get(ports.http, "new.example.com").body == "c"
    assert after.routes() == [
        app_route([a]),
        app_route([c], ("new.example.com",), app_id="new", app_name="new"),
        app_route([b], ("api.example.com",), app_id="other", app_name="other"),
    ]


# ---------------------------------------------------------------------- TLS


def test_a_certificate_makes_caddy_serve_the_app_over_tls(
    router: CaddyRouter, ports: Ports, upstream: Callable[[str], Upstream], tmp_path: Path
) -> None:
    a, b = upstream("a"), upstream("b")
    certificate, cert_file = self_signed(tmp_path / "one", HOST)
    router.route(app_route([a], certificate=certificate))
    router.route(app_route([b], ("plain.example.com",), app_id="plain", app_name="plain"))

    response, presented = https_get(ports.tls, HOST, cert_file)

    assert (response.status, response.body) == (200, "a")
    assert presented == pem_to_der(certificate.cert_pem)
    assert response.headers["X-Request-Id"]
    assert get(ports.http, HOST).body == "a"  # plain HTTP still serves it: no redirect
    with pytest.raises(ssl.SSLError):  # an app without a certificate gets no TLS
        https_get(ports.tls, "plain.example.com", cert_file)

    # A renewed certificate replaces the old one.
    renewed, renewed_file = self_signed(tmp_path / "two", HOST)
    router.route(app_route([a], certificate=renewed))
    response, presented = https_get(ports.tls, HOST, renewed_file)
    assert (response.status, presented) == (200, pem_to_der(renewed.cert_pem))

    # Without a certificate, the TLS listener goes away.
    router.route(app_route([a]))
    with pytest.raises(OSError):
        https_get(ports.tls, HOST, renewed_file)


# ---------------------------------------------------------------------- ensure_caddy


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM `pid`, wait for it to exit and reap it (it is our child); SIGKILL if it stays."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already, or not ours
            done = pid if not Path(f"/proc/{pid}").exists() else 0
        if done:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)


@pytest.fixture
def detached(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A free admin address and a data dir; stops the Caddy that ensure_caddy started there."""
    data_dir = tmp_path / "empire-data"
    yield f"127.0.0.1:{free_port()}", data_dir
    pidfile = data_dir / "caddy" / "caddy.pid"
    if pidfile.exists():
        _stop_pid(int(pidfile.read_text().strip()))


def test_ensure_caddy_starts_a_detached_caddy_when_none_answers(
    detached: tuple[str, Path], ports: Ports, upstream: Callable[[str], Upstream]
) -> None:
    admin, data_dir = detached

    # tune_kernel=False: this runs in the machine's own network namespace, whose settings a
    # test must not change (the swap test covers the tuning, in a namespace of its own).
    assert ensure_caddy(admin, f"127.0.0.1:{ports.http}", data_dir, tune_kernel=False) is True

    home = data_dir / "caddy"
    pid = int((home / "caddy.pid").read_text().strip())
    assert os.getsid(pid) == pid  # its own session: a signal to Empire's group misses it
    assert (home / "initial.json").is_file() and (home / "caddy.log").is_file()
    assert ensure_caddy(admin, f"127.0.0.1:{ports.http}", data_dir) is False  # it answers now

    router = CaddyRouter(admin, f"127.0.0.1:{ports.http}", f"127.0.0.1:{ports.tls}")
    try:
        router.route(app_route([upstream("a")]))
        assert get(ports.http, HOST).body == "a"
    finally:
        router.close()


def test_ensure_caddy_does_nothing_when_a_caddy_answers(
    caddy: CaddyServer, ports: Ports, tmp_path: Path
) -> None:
    data_dir = tmp_path / "empire-data"

    assert ensure_caddy(caddy.admin_address, f"127.0.0.1:{ports.http}", data_dir) is False
    assert not data_dir.exists()


if __name__ == "__main__":  # the swap test's scenario, run inside `unshare --net`
    if sys.argv[1:2] == ["swap-scenario"]:
        print(json.dumps(_swap_scenario(Path(sys.argv[2]))))
