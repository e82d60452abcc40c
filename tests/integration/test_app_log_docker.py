"""The platform's lines in an app's log, for real: `empire server` on the Docker engine with
the router container (Caddy), read by the API's log sessions and the real `heroku` CLI.

A deploy writes `[api]` and `[web.1]` state lines, a request through the router a
`[router]` line with its status and instance, a container killed behind Empire's back
`crashed`; hostile paths stay one escaped, bounded line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from support.server import EmpireServer, docker_env, remove_network
from support.services import REPO_ROOT, free_port
from support.waiting import wait_for

WEB = b'web: sh -c "echo $EMPIRE_RELEASE > /www/index.html; exec httpd -f -p $PORT -h /www"\n'
HEROKU = REPO_ROOT / ".cache" / "heroku-cli" / "node_modules" / ".bin" / "heroku"


@dataclass
class Stack:
    server: EmpireServer
    api: httpx.Client
    token: str
    router: str  # host:port of the router's plain HTTP listener

    def deploy(self, image: str) -> None:
        with self.api.stream("POST", "/deploys", json={"image": image}, timeout=120) as response:
            assert response.status_code == 200, response.read()
            response.read()

    def log(self, body: dict[str, object] | None = None) -> list[str]:
        """The app's log as `emp logs` reads it (no follow), or with Heroku's body (`lines`,
        `dyno`) through the session's `logplex_url`."""
        response = self.api.post(f"/apps/{self.app}/log-sessions", json=body or {}, timeout=30)
        if response.status_code == 201:
            response = httpx.get(response.json()["logplex_url"], timeout=30)
        assert response.status_code == 200, response.text
        return response.text.splitlines()

    app: str = ""


@pytest.fixture
def stack(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Stack]:
    network = f"empire-it-{uuid.uuid4().hex[:8]}"
    router = f"127.0.0.1:{free_port()}"
    server = EmpireServer(
        tmp_path / "empire",
        env=docker_env(network, router),
    )
    server.data_dir.mkdir(parents=True)
    token = server.create_user("alice")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    try:
        yield Stack(server, api, token, router)
    finally:
        api.close()
        server.stop()
        remove_network(docker_client, network)


def raw_get(router: str, target: str, host: str, headers: str = "") -> bytes:
    """One HTTP/1.1 request written byte for byte (httpx would quote the path)."""
    address, port = router.rsplit(":", 1)
    with socket.create_connection((address, int(port)), timeout=10) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def with_text(stack: Stack, needle: str, body: dict[str, object] | None = None) -> list[str]:
    """Wait until a line of the app's log contains `needle`; return those lines."""
    found: list[str] = []

    def seen() -> bool:
        found[:] = [line for line in stack.log(body) if needle in line]
        return bool(found)

    wait_for(seen, timeout=30, what=f"a log line with {needle!r}")
    return found


def test_api_state_and_router_lines_in_the_app_s_log(
    stack: Stack, busybox_image, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    stack.app = app = image.tag.split(":")[0]
    host = f"www.{app}.test"
    stack.deploy(image.tag)
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": host}).is_success
    response = httpx.get(f"http://{stack.router}/hello?x=1", headers={"Host": host}, timeout=5)
    assert response.status_code == 404  # busybox httpd has no /hello: the app's own answer
    assert httpx.get(f"http://{stack.router}/", headers={"Host": host}).status_code == 200

    [release] = with_text(stack, "[api]: Release v1 created by alice")
    assert release.endswith(f"{app}[api]: Release v1 created by alice: Deploy {image.tag}")
    with_text(stack, f"{app}[web.1]: State changed from starting to up")
    with_text(stack, f"{app}[api]: alice added {host} to {app}")
    [hello] = with_text(stack, 'path="/hello?x=1"')
    assert f"{app}[router]: at=info method=GET " in hello
    assert f"host={host} " in hello and " dyno=web.1 " in hello and " status=404 " in hello
    [root] = with_text(stack, 'path="/" ')
    assert " status=200 " in root and " protocol=http" in root
    request_id = response.headers["X-Request-Id"]
    assert f"request_id={request_id} " in hello

    # In time order: the release before the instance was up, before the requests.
    lines = stack.log()
    assert lines.index(release) < lines.index(hello) < lines.index(root)
    # `-p router` and `-p api` select the platform's sources, as `-p web` a process type.
    routed = stack.log({"dyno": "router", "lines": 100})  # heroku logs --dyno router
    assert routed == [line for line in lines if f"{app}[router]: " in line]

    # A process killed behind Empire's back crashed; the engine starts it again.
    [container] = docker_client.containers.list(filters={"label": f"empire.app={app}"})
    container.kill()
    with_text(stack, f"{app}[web.1]: Process exited with status 137")
    with_text(stack, f"{app}[web.1]: State changed from up to crashed")

    # The real heroku CLI shows the same lines.
    home = tmp_path / "heroku-home"
    (home / ".cache" / "heroku").mkdir(parents=True)
    (home / ".cache" / "heroku" / "terms-of-service").touch()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HEROKU_HOST": stack.server.url,
        "HEROKU_API_KEY": stack.token,
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
        "HEROKU_DISABLE_AUTOUPDATE": "true",
        "DISABLE_TELEMETRY": "true",
        "NO_COLOR": "1",
    }
    assert HEROKU.exists(), f"no heroku CLI at {HEROKU}: run scripts/bootstrap"
    run = subprocess.run(
        [str(HEROKU), "logs", "-a", app, "-n", "200"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert f"{app}[api]: Release v1 created by alice: Deploy {image.tag}" in out, out
    assert f"{app}[web.1]: State changed from starting to up" in out, out
    assert f"{app}[router]: at=info method=GET " in out and " status=200 " in out, out
    assert f"{app}[web.1]: State changed from up to crashed" in out, out
    only_router = subprocess.run(
        [str(HEROKU), "logs", "-a", app, "--dyno", "router"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert only_router.returncode == 0, only_router.stderr
    shown = [line for line in only_router.stdout.splitlines() if line]
    assert shown and all(f"{app}[router]: " in line for line in shown), shown


def test_hostile_requests_are_one_bounded_escaped_line(stack: Stack, busybox_image) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    stack.app = app = image.tag.split(":")[0]
    host = f"www.{app}.test"
    stack.deploy(image.tag)
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": host}).is_success
    path = '/"x"\\y%0Aat=error%1b' + "a" * 60_000
    answer = raw_get(stack.router, path, host, 'X-Request-Id: " at=error\r\n')
    status = answer.split(b" ", 2)[1].decode()  # busybox httpd refuses a line this long: 400
    [line] = with_text(stack, 'path="/\\"x\\"\\\\y%0Aat=error%1baaa')
    assert f" status={status} " in line
    assert len(line.encode()) < 3_000 and "aaa..." in line
    assert line.count(" at=") == 1 and "request_id=" in line  # Caddy replaced the bad id
    # No app: a request for a Host no app has is in no app's log.
    assert raw_get(stack.router, "/", "nobody.test").startswith(b"HTTP/1.1 404")
    assert not [x for x in stack.log() if "host=nobody.test" in x]


def test_no_running_process_is_an_h14_line(stack: Stack, busybox_image) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    stack.app = app = image.tag.split(":")[0]
    host = f"www.{app}.test"
    stack.deploy(image.tag)
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": host}).is_success
    scaled = stack.api.patch(f"/apps/{app}/formation/web", json={"quantity": 0}, timeout=60)
    assert scaled.is_success, scaled.text
    assert httpx.get(f"http://{stack.router}/down", headers={"Host": host}).status_code == 503
    [line] = with_text(stack, 'path="/down"')
    assert f'{app}[router]: at=error code=H14 desc="No web processes running" method=GET' in line
    assert " dyno= " in line and " status=503 " in line
    with_text(stack, f"{app}[web.1]: State changed from up to down")
    with_text(stack, f"{app}[api]: alice scaled `web` on {app} from 1(1X) to 0(1X)")


def test_a_follow_gets_router_and_state_lines_as_they_come(stack: Stack, busybox_image) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    stack.app = app = image.tag.split(":")[0]
    host = f"www.{app}.test"
    stack.deploy(image.tag)
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": host}).is_success
    session = stack.api.post(f"/apps/{app}/log-sessions", json={"tail": True, "lines": 5})
    url = session.json()["logplex_url"]
    wanted = ('path="/live"', f"{app}[web.2]: State changed from starting to up")
    got: list[str] = []
    deadline = time.monotonic() + 60
    with httpx.stream("GET", url, timeout=30) as stream:
        lines = stream.iter_lines()
        assert httpx.get(f"http://{stack.router}/live", headers={"Host": host}).status_code == 404
        stack.api.patch(f"/apps/{app}/formation/web", json={"quantity": 2}, timeout=60)
        for line in lines:  # a quiet follow sends an empty line every second
            got.append(line)
            if all(any(w in x for x in got) for w in wanted) or time.monotonic() > deadline:
                break
    [live] = [x for x in got if wanted[0] in x]
    assert live.split(" ", 1)[1].startswith(f"{app}[router]: at=info method=GET ")
    assert [x for x in got if wanted[1] in x], got


def test_router_lines_go_on_after_the_router_container_is_killed(
    stack: Stack, busybox_image, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    stack.app = app = image.tag.split(":")[0]
    host = f"www.{app}.test"
    stack.deploy(image.tag)
    assert stack.api.post(f"/apps/{app}/domains", json={"hostname": host}).is_success
    assert httpx.get(f"http://{stack.router}/before", headers={"Host": host}).status_code == 404
    with_text(stack, 'path="/before"')
    router = docker_client.containers.get(stack.server.env["EMPIRE_ROUTER_CONTAINER"])
    router.kill()  # the engine starts it again (restart policy), Empire's supervisor too

    def answers() -> bool:
        try:
            answer = httpx.get(f"http://{stack.router}/after", headers={"Host": host})
            return answer.status_code == 404  # busybox httpd's own answer: the app served it
        except httpx.HTTPError:
            return False

    wait_for(answers, timeout=30, what="the router to serve again")
    with_text(stack, 'path="/after"')
    assert len([x for x in stack.log() if 'path="/before"' in x]) == 1  # told once
