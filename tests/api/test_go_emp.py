"""The original Go `emp` 0.13.0 keeps working: each test sends the requests it sends
(empire.md §1-§2) with its exact headers, and reads what it reads; an attached `emp run`
speaks its hijacked protocol on a raw socket to a real server."""

from __future__ import annotations

import base64
import json
import re
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, IMAGE, Served, error, ndjson
from support.stack import Stack
from support.waiting import wait_for

ACCEPT = "application/vnd.heroku+json; version=3"
USER_AGENT = "hk/0.13.0 (linux; amd64) heroku-go/0.10.2 (linux; amd64)"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class GoEmp:
    """Sends requests the way emp 0.13.0 (heroku-go) does: the exact Accept header, Basic auth
    with the netrc login and the token, a fresh Request-Id, Content-Type only with a body."""

    def __init__(self, client: TestClient, token: str, message: str | None = None) -> None:
        self.client = client
        self.token = token
        self.message = message

    def __call__(
        self, method: str, path: str, body: Any = None, *, range: str | None = None
    ) -> httpx.Response:
        credentials = base64.b64encode(f"dev@example.com:{self.token}".encode()).decode()
        headers = {
            "Accept": ACCEPT,
            "Authorization": f"Basic {credentials}",
            "Request-Id": str(uuid.uuid4()),
            "User-Agent": USER_AGENT,
        }
        if range:
            headers["Range"] = range
        if self.message:
            headers["Commit-Message"] = self.message
        if body is None:
            return self.client.request(method, path, headers=headers)
        headers["Content-Type"] = "application/json"
        return self.client.request(method, path, headers=headers, json=body)


def go_time(value: str) -> datetime:
    """Go's time.Time decodes RFC 3339 only."""
    assert RFC3339.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def emp(stack: Stack) -> Iterator[GoEmp]:
    with TestClient(stack.api, raise_server_exceptions=False) as client:
        yield GoEmp(client, stack.token)


@pytest.fixture
def emp_deployed(emp: GoEmp) -> GoEmp:
    response = emp("POST", "/deploys", {"image": IMAGE, "stream": True})
    assert response.status_code == 200
    return emp


def test_the_exact_accept_header_and_basic_auth(emp: GoEmp) -> None:
    response = emp("GET", "/apps", range="name ..; max=1000")
    assert response.status_code == 200
    assert response.json() == []


def test_create(emp: GoEmp) -> None:
    """emp create acme-inc → POST /organizations/apps; prints `Created <name>.`"""
    response = emp("POST", "/organizations/apps", {"name": APP})
    assert response.status_code == 201
    assert response.json()["name"] == APP
    go_time(response.json()["created_at"])


def test_apps(emp_deployed: GoEmp) -> None:
    """emp apps → GET /apps with `name ..; max=1000`; prints name, certs, prettyTime."""
    emp_deployed("POST", "/organizations/apps", {"name": "zeta"})
    response = emp_deployed("GET", "/apps", range="name ..; max=1000")
    apps = response.json()
    assert [a["name"] for a in apps] == [APP, "zeta"]
    for app in apps:
        go_time(app["created_at"])
        assert isinstance(app["certs"], dict)


def test_info(emp_deployed: GoEmp) -> None:
    app = emp_deployed("GET", f"/apps/{APP}").json()
    assert (app["name"], app["maintenance"]) == (APP, False)
    assert uuid.UUID(app["id"])


def test_deploy_stream(emp: GoEmp) -> None:
    """emp deploy IMAGE → POST /deploys {"image","stream":true}; a jsonmessage stream."""
    response = emp("POST", "/deploys", {"image": IMAGE, "stream": True})
    assert response.headers["content-type"] == "application/json; boundary=NL"
    statuses = [m["status"] for m in ndjson(response.text) if "status" in m]
    assert "Status: Created new release v1 for acme-inc" in statuses
    assert "Status: Finished processing events for release v1 of acme-inc" in statuses
    again = emp("POST", f"/apps/{APP}/deploys", {"image": IMAGE, "stream": False})
    statuses = [m["status"] for m in ndjson(again.text) if "status" in m]
    assert "Status: Created new release v2 for acme-inc" in statuses


def test_releases(emp_deployed: GoEmp) -> None:
    """emp releases → `version ..; max=20, , order=desc`; rows vN, who, time, description."""
    emp_deployed("PATCH", f"/apps/{APP}/config-vars", {"FOO": "bar"})
    response = emp_deployed(
        "GET", f"/apps/{APP}/releases", range="version ..; max=20, , order=desc"
    )
    assert response.status_code == 200
    releases = response.json()
    assert [r["version"] for r in releases] == [2, 1]
    assert releases[0]["description"] == "Set FOO config var (alice)"
    for release in releases:
        go_time(release["created_at"])
        assert release["user"]["email"] == "alice@example.com"


def test_release_info(emp_deployed: GoEmp) -> None:
    release = emp_deployed("GET", f"/apps/{APP}/releases/1").json()
    assert release["version"] == 1
    assert release["slug"]["id"]
    go_time(release["created_at"])


def test_rollback(emp_deployed: GoEmp) -> None:
    """emp rollback v1 → GET releases (max 1), POST /apps/{a}/releases {"release":"1"};
    prints `Rolled back <a> to v1 as v3.`"""
    emp_deployed("PATCH", f"/apps/{APP}/config-vars", {"FOO": "bar"})
    latest = emp_deployed("GET", f"/apps/{APP}/releases", range="version ..; max=1, , order=desc")
    assert [r["version"] for r in latest.json()] == [2]
    response = emp_deployed("POST", f"/apps/{APP}/releases", {"release": "1"})
    assert response.status_code in (200, 201)
    assert response.json()["version"] == 3


def test_env_set_unset(emp_deployed: GoEmp) -> None:
    """emp set / unset / env / env -v N."""
    assert emp_deployed("PATCH", f"/apps/{APP}/config-vars", {"A": "1", "B": "2"}).json() == {
        "A": "1",
        "B": "2",
    }
    assert emp_deployed("PATCH", f"/apps/{APP}/config-vars", {"A": None}).json() == {"B": "2"}
    assert emp_deployed("GET", f"/apps/{APP}/config-vars").json() == {"B": "2"}
    assert emp_deployed("GET", f"/apps/{APP}/config-vars/2").json() == {"A": "1", "B": "2"}


def test_scale(emp_deployed: GoEmp) -> None:
    """emp scale web=2:1X worker=1:256:2GB → updates keyed by `process`, sizes upper-cased."""
    body = {
        "updates": [
            {"process": "web", "quantity": 2, "size": "1X"},
            {"process": "worker", "quantity": 1, "size": "256:2GB"},
        ]
    }
    response = emp_deployed("PATCH", f"/apps/{APP}/formation", body)
    assert response.status_code == 200
    assert [(f["type"], f["quantity"], f["size"]) for f in response.json()] == [
        ("web", 2, "1X"),
        ("worker", 1, "256:2.00gb"),
    ]
    # emp scale web=:2X sends no quantity: the quantity stays
    resized = emp_deployed(
        "PATCH", f"/apps/{APP}/formation", {"updates": [{"process": "web", "size": "2X"}]}
    )
    assert resized.json()[0]["quantity"] == 2
    # emp scale -l
    listed = emp_deployed("GET", f"/apps/{APP}/formation").json()
    assert {f["type"]: f"{f['quantity']}:{f['size']}" for f in listed} == {
        "migrate": "0:1X",
        "web": "2:2X",
        "worker": "1:256:2.00gb",
    }


def test_ps(emp_deployed: GoEmp) -> None:
    """emp ps → rows `name host size state age command` from the dyno fields."""
    [dyno] = emp_deployed("GET", f"/apps/{APP}/dynos").json()
    assert dyno["name"] == "v1.web.1"
    assert dyno["type"] == "web"
    assert dyno["host"]["id"] == "fake"
    assert dyno["size"] == "1X"
    assert dyno["state"] == "up"
    # As the Procfile wrote it: a viewer never reads an expanded value (a secret, say).
    assert dyno["command"] == "./bin/web --port $PORT"
    go_time(dyno["updated_at"])


def test_restart(stack: Stack, emp_deployed: GoEmp) -> None:
    """emp restart / restart web / restart v1.web.1."""
    for path in ("dynos", "dynos/web", "dynos/v1.web.1"):
        response = emp_deployed("DELETE", f"/apps/{APP}/{path}")
        assert 200 <= response.status_code < 300, response.text
    app_id = stack.empire.app(APP, by=stack.user).id
    assert stack.scheduler.restarts == [(app_id, None), (app_id, "web")]
    assert stack.scheduler.stopped == ["v1.web.1"]


def test_run_detached(emp_deployed: GoEmp) -> None:
    """emp run -d migrate → prints ``Ran `migrate` on acme-inc as <name>, detached.``"""
    body = {
        "command": "migrate",
        "attach": False,
        "env": {"COLUMNS": "80", "LINES": "24", "TERM": "xterm"},
    }
    response = emp_deployed("POST", f"/apps/{APP}/dynos", body)
    assert response.status_code == 201
    dyno = response.json()
    assert dyno["name"] == "v1.run.1"
    assert dyno["command"] == "./bin/migrate"
    go_time(dyno["created_at"])


def test_log(stack: Stack, emp_deployed: GoEmp) -> None:
    """emp log -d 10m → {"duration": <nanoseconds>}: a plain stream copied to stdout."""
    stack.scheduler.lines[stack.empire.app(APP, by=stack.user).id] = ["line 1", "line 2"]
    response = emp_deployed("POST", f"/apps/{APP}/log-sessions", {"duration": 600_000_000_000})
    assert response.status_code == 200
    # The platform's lines come after process lines that carry no time.
    assert response.text.splitlines() == [
        "line 1",
        "line 2",
        f"2026-11-26T10:00:00.000000Z {APP}[api]: alice created {APP}",
        f"2026-11-26T10:00:00.000000Z {APP}[api]: Release v1 created by alice: Deploy {IMAGE}",
    ]
    assert emp_deployed("POST", f"/apps/{APP}/log-sessions", {}).text == response.text


def test_domains(emp_deployed: GoEmp) -> None:
    """emp domain-add / domains (`hostname ..; max=1000`) / domain-remove."""
    added = emp_deployed("POST", f"/apps/{APP}/domains", {"hostname": "www.acme.com"})
    assert added.status_code == 201
    listed = emp_deployed("GET", f"/apps/{APP}/domains", range="hostname ..; max=1000")
    assert [d["hostname"] for d in listed.json()] == ["www.acme.com"]
    removed = emp_deployed("DELETE", f"/apps/{APP}/domains/www.acme.com")
    assert 200 <= removed.status_code < 300


def test_maintenance_rename_cert_destroy(emp_deployed: GoEmp) -> None:
    assert emp_deployed("PATCH", f"/apps/{APP}", {"maintenance": True}).json()["maintenance"]
    assert not emp_deployed("PATCH", f"/apps/{APP}", {"maintenance": False}).json()["maintenance"]
    cert = emp_deployed("POST", f"/apps/{APP}/certs", {"cert": "acme", "process": "web"})
    assert cert.json() == {}
    assert emp_deployed("PATCH", f"/apps/{APP}", {"name": "acme-two"}).json()["name"] == "acme-two"
    assert 200 <= emp_deployed("DELETE", "/apps/acme-two").status_code < 300


def test_errors_are_printed_from_message(emp: GoEmp) -> None:
    """emp prints `error: <message>`; `unauthorized` adds a login hint of its own."""
    error(emp("GET", "/apps/nope"), 404, "not_found", "Couldn't find that app: no app named nope")
    emp.token = "wrong"
    error(emp("GET", "/apps"), 401, "unauthorized")


def test_message_required_makes_emp_ask_for_one(tmp_path: Any) -> None:
    """emp retries with -m when the server answers id `message_required`."""
    from support.stack import make_stack

    stack = make_stack(tmp_path, messages_required=True)
    with TestClient(stack.api) as client:
        emp = GoEmp(client, stack.token)
        error(
            emp("POST", "/organizations/apps", {"name": APP}),
            400,
            "message_required",
            "Header 'Commit-Message' is required",
        )
        emp.message = "because"
        assert emp("POST", "/organizations/apps", {"name": APP}).status_code == 201


# -- emp run (attached): the hijacked POST /apps/{app}/dynos (empire.md §1.5) ------------------


@pytest.fixture
def served(stack: Stack, emp_deployed: GoEmp) -> Iterator[Served]:
    """The API behind a real server: the attached run takes over the TCP connection."""
    with Served(stack.api) as served:
        yield served


def hijacked_run(
    served: Served,
    token: str,
    command: str,
    *,
    multiplex: bool = True,
    app: str = APP,
) -> tuple[socket.socket, bytes, bytes]:
    """Send `emp run COMMAND` as emp 0.13.0 does on a raw socket; return the socket, the
    response head and whatever of the stream came with it."""
    body = json.dumps(
        {
            "command": command,
            "attach": True,
            "env": {"COLUMNS": "80", "LINES": "24", "TERM": "xterm"},
        }
    ).encode()
    credentials = base64.b64encode(f"dev@example.com:{token}".encode()).decode()
    head = (
        f"POST /apps/{app}/dynos HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
        f"User-Agent: {USER_AGENT}\r\nContent-Length: {len(body)}\r\nAccept: {ACCEPT}\r\n"
        f"Authorization: Basic {credentials}\r\nContent-Type: application/json\r\n"
        f"Request-Id: {uuid.uuid4()}\r\n" + ("X-Multiplex: 1\r\n" if multiplex else "") + "\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    sock.sendall(head.encode() + body)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the response head: {received!r}"
        received += chunk
    response, _, rest = received.partition(b"\r\n\r\n")
    return sock, response, rest


def rest_of(sock: socket.socket, received: bytes) -> bytes:
    """Read until the server closes the connection (a bound of 30 s per read)."""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def stdcopy(data: bytes) -> list[tuple[int, bytes]]:
    """Docker stdcopy frames: [stream, 0, 0, 0, uint32 big-endian length] + payload."""
    frames = []
    while data:
        assert data[1:4] == b"\0\0\0" and len(data) >= 8, data
        size = int.from_bytes(data[4:8], "big")
        frames.append((data[0], data[8 : 8 + size]))
        data = data[8 + size :]
    return frames


def test_run_attached_multiplexed(stack: Stack, served: Served) -> None:
    """emp run bash: the server answers with its own 200 head, then stdcopy frames of the
    process's output (a terminal: everything is stdout); stdin is the socket, its half-close
    the end of input; the server closes when the process has exited."""
    sock, head, rest = hijacked_run(served, stack.token, "bash")
    status, *headers = head.decode().split("\r\n")
    assert status == "HTTP/1.1 200 OK"
    assert "Content-Type: application/vnd.empire.stdcopy-stream" in headers
    listed = [d["name"] for d in stack.client().get(f"/apps/{APP}/dynos").json()]
    assert "v1.run.1" in listed  # listed while it runs
    sock.sendall(b"hello\nsize\nwarn oops\n")
    sock.shutdown(socket.SHUT_WR)  # emp's CloseWrite at the end of its stdin
    assert stdcopy(rest_of(sock, rest)) == [(1, b"hello\n"), (1, b"24 80\n"), (1, b"oops\n")]
    [attachment] = stack.scheduler.attachments
    assert attachment.tty and attachment.stdin == b"hello\nsize\nwarn oops\n"
    assert stack.scheduler.killed == ["v1.run.1"]  # removed once it exited
    runs = [e.text for e in stack.events.events if e.kind == "run"]
    assert runs == ["alice started running `bash` (attached) on acme-inc"]


def test_run_attached_raw(stack: Stack, served: Served) -> None:
    """Without X-Multiplex the output comes as it is, stdout and stderr merged."""
    sock, head, rest = hijacked_run(served, stack.token, "bash", multiplex=False)
    assert b"Content-Type: application/vnd.empire.raw-stream" in head
    sock.sendall(b"hello\nwarn oops\nexit 3\n")
    assert rest_of(sock, rest) == b"hello\noops\n"
    assert stack.scheduler.killed == ["v1.run.1"]


def test_run_attached_errors_before_the_takeover_are_json(stack: Stack, served: Served) -> None:
    sock, head, rest = hijacked_run(served, stack.token, "bash", app="nope")
    assert head.startswith(b"HTTP/1.1 404 ")
    assert json.loads(rest) == {
        "id": "not_found",
        "message": "Couldn't find that app: no app named nope",
        "url": "",
        "resource": "app",
    }
    sock.close()
    _, viewer = stack.empire.create_user("vic")
    stack.empire.grant(APP, "vic", "viewer", by=stack.user)
    sock, head, rest = hijacked_run(served, viewer, "bash")
    assert head.startswith(b"HTTP/1.1 403 ")
    sock.close()
    assert stack.scheduler.attachments == []


def test_run_attached_ends_when_the_client_goes(stack: Stack, served: Served) -> None:
    sock, head, _ = hijacked_run(served, stack.token, "bash")
    assert head.startswith(b"HTTP/1.1 200 OK")
    sock.close()  # emp killed: the process is killed and removed
    wait_for(
        lambda: stack.scheduler.killed == ["v1.run.1"], what="the run to be removed", interval=0.02
    )
    assert stack.client().get(f"/apps/{APP}/dynos").json()[0]["name"] == "v1.web.1"
