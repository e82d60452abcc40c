"""The whole stack for real: `empire server` on the Docker engine, the router container (Caddy
and the resolver), a reconciler.

Each test drives the real HTTP API; public traffic goes through the router's port published on
127.0.0.1, internal traffic from a client container on the app network.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from support.probes import Probes, netns_of
from support.server import EmpireServer, docker_env, remove_network
from support.services import free_port
from support.waiting import wait_for

WEB = (
    b'web: sh -c "echo $EMPIRE_RELEASE-$GREETING > /www/index.html; '
    b'exec httpd -f -p $PORT -h /www"\n'
)
CRASH = b"web: sh -c 'echo boom; exit 3'\n"


@dataclass
class Stack:
    server: EmpireServer
    api: httpx.Client
    router: str  # host:port of the router's plain HTTP listener
    container: str  # the router container's name
    network: str
    tls: str

    def deploy(self, image: str, app: str | None = None) -> list[dict[str, Any]]:
        path = f"/apps/{app}/deploys" if app else "/deploys"
        with self.api.stream("POST", path, json={"image": image}, timeout=120) as response:
            assert response.status_code == 200, response.read()
            return [json.loads(line) for line in response.iter_lines() if line]

    def get(self, host: str, path: str = "/") -> httpx.Response:
        return httpx.get(f"http://{self.router}{path}", headers={"Host": host}, timeout=5)


@pytest.fixture
def stack(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Stack]:
    network = f"empire-it-{uuid.uuid4().hex[:8]}"
    router = f"127.0.0.1:{free_port()}"
    env = docker_env(network, router)
    container, tls = env["EMPIRE_ROUTER_CONTAINER"], env["EMPIRE_ROUTER_TLS_LISTEN"]
    server = EmpireServer(tmp_path / "empire", env=env)
    server.data_dir.mkdir(parents=True)
    token = server.create_user("alice")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    try:
        yield Stack(server, api, router, container, network, tls)
    finally:
        api.close()
        server.stop()
        remove_network(docker_client, network)


def load(stack: Stack, host: str, stop: threading.Event, results: list[int]) -> None:
    """At most 3,000 requests, 10 ms apart, until `stop`: a bounded load on the router.

    Each request opens its own connection, as independent clients do: a config reload closes
    Caddy's idle keep-alive connections, which a client reusing one must retry (RFC 9112 §9.3.1)
    and httpx does not.
    """
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=5, limits=limits) as client:
        for _ in range(3000):
            if stop.is_set():
                return
            try:
                status = client.get(f"http://{stack.router}/", headers={"Host": host}).status_code
            except httpx.HTTPError:
                status = 0
            results.append(status)
            time.sleep(0.01)


def test_deploy_route_rollback_without_dropping_a_request(stack: Stack, busybox_image) -> None:
    v1 = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    v2 = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www /v2")
    app = v1.tag.split(":")[0]
    messages = stack.deploy(v1.tag)
    assert {"status": f"Status: Created new release v1 for {app}"} in messages
    assert messages[-1] == {"status": f"Status: Release v1 of {app} succeeded"}

    # Internal until it has a domain: the router does not reach it.
    assert stack.get(f"{app}.example.test").status_code == 404
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": "www.acme.test"}).is_success
    response = stack.get("www.acme.test")
    assert response.text.strip() == "v1-"
    assert response.headers["X-Request-Id"]

    stop, results = threading.Event(), []  # type: ignore[var-annotated]
    loader = threading.Thread(target=load, args=(stack, "www.acme.test", stop, results))
    loader.start()
    try:
        stack.deploy(v2.tag, app=app)
        assert stack.get("www.acme.test").text.strip() == "v2-"
        config = stack.api.patch(f"/apps/{app}/config-vars", json={"GREETING": "hi"})
        assert config.is_success
        assert stack.get("www.acme.test").text.strip() == "v3-hi"
        rollback = stack.api.post(f"/apps/{app}/releases", json={"release": "1"})
        assert rollback.json()["version"] == 4 and rollback.json()["status"] == "succeeded"
        assert stack.get("www.acme.test").text.strip() == "v4-"
    finally:
        stop.set()
        loader.join()
    assert len(results) > 50
    assert [s for s in results if s != 200] == []


def test_a_crashing_release_is_rolled_back_and_the_old_one_serves(
    stack: Stack, busybox_image
) -> None:
    good = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    bad = busybox_image(workdir="/app", procfile=CRASH)
    app = good.tag.split(":")[0]
    stack.deploy(good.tag)
    stack.api.post(f"/apps/{app}/domains", json={"hostname": "crash.acme.test"})
    messages = stack.deploy(bad.tag, app=app)
    error = messages[-1]["errorDetail"]["message"]
    assert error.startswith(f"release v2 of {app} was rolled back:")
    assert "exited with code 3" in error and "boom" in error
    assert stack.get("crash.acme.test").text.strip() == "v1-"
    release = stack.api.get(f"/apps/{app}/releases/2").json()
    assert (release["status"], release["outcome"]) == ("failed", "rolled_back")
    assert stack.api.get(f"/apps/{app}/releases/1").json()["current"] is True


def test_apps_keep_serving_without_empire_and_a_lost_router_comes_back(
    stack: Stack, busybox_image, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    app = image.tag.split(":")[0]
    stack.deploy(image.tag)
    stack.api.post(f"/apps/{app}/domains", json={"hostname": "keep.acme.test"})
    stack.server.stop()
    assert stack.get("keep.acme.test").text.strip() == "v1-"  # Empire is down, the router serves

    docker_client.containers.get(stack.container).remove(force=True)  # gone, with its state
    with pytest.raises(httpx.HTTPError):
        stack.get("keep.acme.test")
    stack.server.start()  # made again, its table given back

    def serving() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return stack.get("keep.acme.test").text.strip() == "v1-"
        return False

    wait_for(serving, timeout=30, what="the router to serve the app again")
    health = stack.api.get("/health").json()
    assert health.get("router", {}).get("router") == "up", health


def test_an_attached_pem_certificate_serves_the_domains_over_tls(
    stack: Stack, busybox_image, tmp_path: Path
) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    app = image.tag.split(":")[0]
    stack.deploy(image.tag)
    stack.api.post(f"/apps/{app}/domains", json={"hostname": "www.tls.test"})
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=www.tls.test",
            "-addext",
            "subjectAltName=DNS:www.tls.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    pem = cert.read_text() + key.read_text()
    assert stack.api.post(f"/apps/{app}/certs", json={"cert": pem}).status_code == 200
    host, port = stack.tls.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 10
    while True:
        try:
            with (
                socket.create_connection((host, int(port)), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="www.tls.test") as tls,
            ):
                tls.sendall(b"GET / HTTP/1.1\r\nHost: www.tls.test\r\nConnection: close\r\n\r\n")
                reply = b""
                while chunk := tls.recv(4096):
                    reply += chunk
            break
        except (OSError, ssl.SSLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert reply.startswith(b"HTTP/1.1 200") and reply.rstrip().endswith(b"v1-")


RELEASED = (
    b'web: sh -c "echo $EMPIRE_RELEASE > /www/index.html; exec httpd -f -p $PORT -h /www"\n'
    b"worker: sleep 3600\n"
)


def test_no_request_is_lost_inside_or_outside_through_releases(
    stack: Stack, busybox_image, docker_client: docker.DockerClient
) -> None:
    """The issue's proof: clients inside the app network calling http://<app>/ and
    http://web.<app>/ (a new connection per request, and one kept alive), and public clients
    through the router (both ways), through 10 deploys, 10 rollbacks, 5 scale changes and 3
    restarts of an app with web=2..3 and a worker: no request fails."""
    v1 = busybox_image(workdir="/app", procfile=RELEASED, run="mkdir -p /www")
    v2 = busybox_image(workdir="/app", procfile=RELEASED, run="mkdir -p /www /v2")
    app = v1.tag.split(":")[0]
    stack.deploy(v1.tag)
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": "zero.acme.test"}).is_success
    scale = [{"type": "web", "quantity": 2}]
    assert stack.api.patch(f"/apps/{app}/formation", json={"updates": scale}).is_success
    router = docker_client.api.inspect_container(stack.container)
    client = docker_client.containers.run(
        v1.tag,  # busybox: a client container on the app network, as any app's
        ["sleep", "3600"],
        network=stack.network,
        dns=[router["NetworkSettings"]["Networks"][stack.network]["IPAddress"]],
        labels={"empire.network": stack.network},
        detach=True,
    )
    inside = {"netns": netns_of(docker_client.api, client.id), "dns": "127.0.0.11"}
    probes = Probes()
    probes.start("internal app fresh", f"http://{app}/", app, "fresh", **inside)
    probes.start("internal app keep-alive", f"http://{app}/", app, "keepalive", **inside)
    probes.start("internal web fresh", f"http://web.{app}/", f"web.{app}", "fresh", **inside)
    probes.start(
        "internal web keep-alive", f"http://web.{app}/", f"web.{app}", "keepalive", **inside
    )
    public = f"http://{stack.router}/"
    probes.start("public fresh", public, "zero.acme.test", "fresh")
    probes.start("public keep-alive", public, "zero.acme.test", "keepalive")
    counts = {"deploys": 0, "rollbacks": 0, "scales": 0, "restarts": 0}
    try:
        for n in range(10):
            stack.deploy((v2 if n % 2 == 0 else v1).tag, app=app)
            counts["deploys"] += 1
            releases = stack.api.get(f"/apps/{app}/releases").json()
            back = releases[-2]["version"]
            rollback = stack.api.post(f"/apps/{app}/releases", json={"release": str(back)})
            assert rollback.json()["status"] == "succeeded", rollback.text
            counts["rollbacks"] += 1
            if n % 2 == 0:
                scale = [{"type": "web", "quantity": 3 if n % 4 == 0 else 2}]
                patched = stack.api.patch(f"/apps/{app}/formation", json={"updates": scale})
                assert patched.is_success, patched.text
                counts["scales"] += 1
            if n in (1, 5, 9):
                assert stack.api.delete(f"/apps/{app}/dynos").is_success
                counts["restarts"] += 1
    finally:
        results = probes.finish()
        client.remove(force=True)
    print(json.dumps({"operations": counts, "probes": results}, indent=1))
    assert counts == {"deploys": 10, "rollbacks": 10, "scales": 5, "restarts": 3}
    for name, result in results.items():
        assert result.get("total", 0) > 100, (name, result)
        assert result["failed"] == 0, (name, result)
        assert len(result["bodies"]) >= 2, (name, result)  # it saw the releases change
    assert results["internal app keep-alive"]["connections"] == 1
    assert results["public keep-alive"]["connections"] == 1


PHASED = (
    b'web: sh -c "echo $EMPIRE_RELEASE > /www/index.html; exec httpd -f -p $PORT -h /www"\n'
    b"release: sh -c 'echo migrating $EMPIRE_RELEASE; exit ${FAIL:-0}'\n"
)


def test_the_release_phase_runs_first_and_a_failure_keeps_the_old_release(
    stack: Stack, busybox_image
) -> None:
    image = busybox_image(workdir="/app", procfile=PHASED, run="mkdir -p /www")
    app = image.tag.split(":")[0]
    messages = stack.deploy(image.tag)
    assert {"stream": "migrating v1\n"} in messages
    assert messages[-1] == {"status": f"Status: Release v1 of {app} succeeded"}
    stack.api.post(f"/apps/{app}/domains", json={"hostname": "phase.acme.test"})
    assert stack.get("phase.acme.test").text.strip() == "v1"

    changed = stack.api.patch(f"/apps/{app}/config-vars", json={"FAIL": "1"})
    assert changed.is_success
    failed = stack.api.get(f"/apps/{app}/releases/2").json()
    assert (failed["status"], failed["release_phase"]) == ("failed", "failed")
    assert failed["outcome_reason"].startswith("the release phase exited with code 1")
    output = httpx.get(failed["output_stream_url"], headers=stack.api.headers, timeout=5)
    assert output.text == "migrating v2\n"
    assert stack.get("phase.acme.test").text.strip() == "v1"  # v2 never started
    assert stack.api.get(f"/apps/{app}/formation").json()[0]["type"] == "web"  # not release
