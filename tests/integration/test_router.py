"""EngineRouter on the real engine: the router container (Caddy and the resolver) on a network
of its own, busybox app containers behind it, public requests through its port published on
127.0.0.1, internal ones from a client container on the network."""

from __future__ import annotations

import contextlib
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from empire.router import Certificate, Endpoint, Route
from empire.router.caddy import NOT_ROUTED, NOT_RUNNING
from empire.router.router import EngineRouter
from empire.scheduler.kit.api import engine_api
from support import pki
from support.busybox import http_get
from support.services import free_port
from support.waiting import wait_for

from .conftest import BuiltImage, unique


@dataclass
class Fixture:
    client: docker.DockerClient
    image: str
    network: str
    state: Path
    name: str
    listen: str
    tls: str
    made: list[EngineRouter]

    def router(self, *, look: bool = True) -> EngineRouter:
        """A router (a new one is a new Empire process: it adopts what runs, on its first
        call; `look` makes that call now)."""
        made = EngineRouter(
            engine_api(self.client),
            network=self.network,
            state=self.state,
            listen=self.listen,
            tls_listen=self.tls,
            name=self.name,
            drain=0.5,
        )
        self.made.append(made)
        if look:
            made.resolver()  # the network and the container exist from here on
        return made

    def app(self, body: str) -> str:
        """A busybox web container on the network answering `body`; its name."""
        name = unique("empire-test-app")
        self.client.containers.run(
            self.image,
            [
                "sh",
                "-c",
                f"mkdir -p /www; echo {body} > /www/index.html; exec httpd -f -p 80 -h /www",
            ],
            name=name,
            network=self.network,
            labels={"empire.network": self.network},
            detach=True,
        )
        return name

    def get(self, host: str, path: str = "/") -> httpx.Response:
        return httpx.get(f"http://{self.listen}{path}", headers={"Host": host}, timeout=5)

    def inside(self, router: EngineRouter, *command: str) -> str:
        """Run `command` in a container on the network that asks the router's resolver."""
        output = self.client.containers.run(
            self.image,
            list(command),
            network=self.network,
            dns=[router.resolver()],
            labels={"empire.network": self.network},
            remove=True,
        )
        return bytes(output).decode().strip()


@pytest.fixture
def fixture(
    docker_client: docker.DockerClient,
    busybox_base: BuiltImage,
    tmp_path: Path,
    docker_network: str,
) -> Iterator[Fixture]:
    made: list[EngineRouter] = []
    image = busybox_base.tag  # busybox with httpd; the command makes /www
    name = unique("empire-test-router")
    found = Fixture(
        docker_client,
        image,
        docker_network,
        tmp_path / "router",
        name,
        f"127.0.0.1:{free_port()}",
        f"127.0.0.1:{free_port()}",
        made,
    )
    yield found
    for router in made:
        router.close()
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.containers.get(name).remove(force=True)


def route(app_id: str, name: str, hostnames: tuple[str, ...], *hosts: str) -> Route:
    return Route(app_id, name, hostnames, (("web", tuple(Endpoint(h, 80) for h in hosts)),))


def test_public_hosts_internal_names_and_what_nothing_serves(fixture: Fixture) -> None:
    router = fixture.router()
    one, two = fixture.app("one"), fixture.app("two")
    worker = fixture.app("worker")
    acme = Route(
        "id-acme",
        "acme",
        ("www.acme.test", "*.acme-shop.test"),
        (("web", (Endpoint(one, 80), Endpoint(two, 80))), ("admin", (Endpoint(worker, 80),))),
    )
    router.route(acme)
    router.route(Route("id-idle", "idle", ("idle.test",), (("web", ()),)))

    bodies = {fixture.get("www.acme.test").text.strip() for _ in range(6)}
    assert bodies == {"one", "two"}  # round robin over both instances
    assert fixture.get("a.acme-shop.test").text.strip() in {"one", "two"}
    absent = fixture.get("nobody.test")
    assert (absent.status_code, absent.text) == (404, NOT_ROUTED)
    assert fixture.get("acme").status_code == 404  # internal names are not public
    down = fixture.get("idle.test")
    assert (down.status_code, down.text) == (503, NOT_RUNNING)
    assert len(fixture.get("www.acme.test").headers["X-Request-Id"]) == 36

    script = "; ".join(
        [
            *(http_get(name) for name in ("acme", "web.acme", "admin.acme", "idle")),
            "nslookup nosuch-app 2>&1 | grep -q NXDOMAIN && echo unknown",
        ]
    )
    lines = fixture.inside(router, "sh", "-c", script).splitlines()
    assert len(lines) == 5, lines
    assert lines[0] in {"one", "two"} and lines[1] in {"one", "two"}
    assert lines[2] == "worker"
    assert lines[3] == NOT_RUNNING.strip()
    assert lines[4] == "unknown"  # no app by that name: the upstream says so


def test_route_changes_keep_keep_alive_connections_and_reload_nothing(fixture: Fixture) -> None:
    """Instances swapped 20 times and a domain added and removed: one keep-alive client sees no
    error, its connection is never closed, and Caddy's config is never pushed again."""
    router = fixture.router()
    blue, green = fixture.app("blue"), fixture.app("green")
    router.route(route("id-ka", "ka", ("ka.test",), blue))
    config = router._get_config()
    errors: list[str] = []
    seen: set[str] = set()
    answers: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(http1=True, timeout=5) as client:
            for _ in range(5000):
                if stop.is_set():
                    return
                try:
                    r = client.get(f"http://{fixture.listen}/", headers={"Host": "ka.test"})
                    seen.add(r.text.strip())
                    answers.append(r.text.strip())
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:60]}")
                except httpx.HTTPError as e:
                    errors.append(repr(e))
                time.sleep(0.005)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        for n in range(20):
            hosts = ("ka.test", "more.test") if n % 4 == 1 else ("ka.test",)
            router.route(route("id-ka", "ka", hosts, green if n % 2 else blue))
            now = "green" if n % 2 else "blue"
            mark = len(answers)  # a few requests answered by the new instances, then the next
            wait_for(
                lambda m=mark, w=now: answers[m:].count(w) >= 3,
                timeout=20,
                what=f"requests to reach {now}",
            )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    assert seen == {"blue", "green"}
    assert router._get_config() == config  # no reload


def test_a_bad_certificate_is_left_out_and_only_its_app_is_told(fixture: Fixture) -> None:
    router = fixture.router()
    good_app, bad_app = fixture.app("good"), fixture.app("bad")
    good = _certificate("good.test")
    fake = Certificate(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", good.key_pem
    )
    router.route(dataclass_replace(route("id-good", "good", ("good.test",), good_app), good))
    router.route(dataclass_replace(route("id-bad", "bad", ("bad.test",), bad_app), fake))

    assert "id-bad" in router.problems() and "id-good" not in router.problems()
    assert _tls_get(fixture.tls, "good.test", good) == "good"
    assert fixture.get("bad.test").text.strip() == "bad"  # plain HTTP still routed
    # Another app's change still goes through, and a good certificate replaces the bad one.
    other = _certificate("bad.test")
    router.route(dataclass_replace(route("id-bad", "bad", ("bad.test",), bad_app), other))
    assert router.problems() == {}
    assert _tls_get(fixture.tls, "bad.test", other) == "bad"


def test_the_most_specific_certificate_wins_and_no_key_reaches_the_host(
    fixture: Fixture,
) -> None:
    """Another app's wildcard never shadows an app's own name, whatever their names' order
    (the API refuses such a pair; the router holds even so), and the config Caddy keeps, with
    its private keys, stays inside the router container."""
    router = fixture.router()
    wild_app, exact_app = fixture.app("wild"), fixture.app("exact")
    wild, exact = _certificate("*.shop.test"), _certificate("a.shop.test")
    router.route(dataclass_replace(route("id-a", "a-wild", ("*.shop.test",), wild_app), wild))
    router.route(dataclass_replace(route("id-z", "z-exact", ("a.shop.test",), exact_app), exact))

    assert _tls_get(fixture.tls, "a.shop.test", exact) == "exact"
    assert _tls_get(fixture.tls, "b.shop.test", wild) == "wild"
    on_host = [p for p in fixture.state.rglob("*") if p.is_file() and not p.is_socket()]
    assert not [p for p in on_host if b"PRIVATE KEY" in p.read_bytes()]
    assert not [p for p in on_host if p.name == "autosave.json"]


def test_the_admin_api_is_a_private_socket_and_no_port(fixture: Fixture) -> None:
    """Caddy's admin API (every private key, every route) answers only on a unix socket in a
    directory only root can enter: not on its default port 2019, inside the router or from the
    app network."""
    router = fixture.router()
    router.route(route("id-adm", "adm", ("adm.test",), fixture.app("adm")))
    assert stat.S_IMODE(fixture.state.stat().st_mode) == 0o700
    socket_path = fixture.state / "admin.sock"
    transport = httpx.HTTPTransport(uds=str(socket_path))
    with httpx.Client(transport=transport, timeout=5) as client:
        config = client.get("http://empire-router/config/", headers={"Origin": "empire-router"})
    assert config.status_code == 200 and "adm.test" not in config.text  # hosts live in records
    # The same probe reaches the ports that do listen, and is refused on 2019.
    container = fixture.client.containers.get(fixture.name)

    def inside_router(port: int) -> tuple[int, str]:
        found = container.exec_run(["busybox", "nc", "-w", "2", "127.0.0.1", str(port)])
        return found.exit_code, bytes(found.output).decode()

    assert inside_router(8080)[0] == 0
    code, said = inside_router(2019)
    assert code != 0 and "refused" in said
    script = "for p in 80 2019; do nc -w 2 {0} $p </dev/null 2>&1; echo exit=$?; done"
    said = fixture.inside(router, "sh", "-c", script.format(fixture.name))
    assert said.count("exit=0") == 1 and said.endswith("exit=1") and "refused" in said


def test_a_new_router_adopts_the_table_of_the_running_one(fixture: Fixture) -> None:
    first = fixture.router()
    a, b = fixture.app("a"), fixture.app("b")
    cert = _certificate("a.test")
    first.route(dataclass_replace(route("id-a", "a", ("a.test",), a), cert))
    first.route(route("id-b", "b", ("b.test",), b))
    first.close()

    second = fixture.router(look=False)  # a new Empire process, whose first call is a removal
    second.remove("id-b")
    assert [r.app_id for r in second.routes()] == ["id-a"]
    assert second.current("id-a") == first.current("id-a")
    assert fixture.get("a.test").text.strip() == "a"
    assert fixture.get("b.test").status_code == 404
    assert _tls_get(fixture.tls, "a.test", cert) == "a"


def test_the_router_comes_back_with_its_routes(fixture: Fixture) -> None:
    router = fixture.router()
    app = fixture.app("back")
    router.route(route("id-back", "back", ("back.test",), app))
    router.start()
    container = fixture.client.containers.get(fixture.name)

    def serving() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return fixture.get("back.test").text.strip() == "back"
        return False

    # Crashed (SIGKILL from the host): the engine starts it again.
    pid = fixture.client.api.inspect_container(fixture.name)["State"]["Pid"]
    subprocess.run(["kill", "-9", str(pid)], check=True)
    wait_for(serving, timeout=20, what="the router to serve again after kill -9")
    # Stopped, then removed: supervision makes it again, and gives it its table back.
    container.stop(timeout=0)
    wait_for(serving, timeout=20, what="the router to serve again after a stop")
    fixture.client.containers.get(fixture.name).remove(force=True)
    wait_for(serving, timeout=30, what="the router to serve again after it was removed")
    assert router.status()["router"] == "up"


# -- helpers ----------------------------------------------------------------------------------


def dataclass_replace(found: Route, certificate: Certificate) -> Route:
    import dataclasses

    return dataclasses.replace(found, certificate=certificate)


def _certificate(hostname: str) -> Certificate:
    issued = pki.issue(hostname, names=[hostname])
    return Certificate(issued.cert_pem, issued.key_pem())


def _tls_get(address: str, hostname: str, trusted: Certificate) -> str:
    """GET / over TLS with SNI `hostname`, trusting only `trusted`."""
    import ssl

    context = ssl.create_default_context(cadata=trusted.cert_pem)
    with httpx.Client(verify=context, timeout=5) as client:
        response = client.get(
            f"https://{address}/",
            extensions={"sni_hostname": hostname},
            headers={"Host": hostname},
        )
    return response.text.strip()
