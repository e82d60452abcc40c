"""WebSocket /apps/{app}/attach: attached one-off runs, on the fake scheduler's canned process.

The fake's process echoes stdin lines back on stdout; `warn X` writes X on stderr, `exit N`
exits N, `size` prints the terminal's size (see `FakeAttachment`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from api.api_support import APP, IMAGE, PROCFILE, error
from support.stack import Stack, make_stack

UNAUTHORIZED = "Request not authenticated, API token is missing, invalid or expired"
PATH = f"/apps/{APP}/attach"


def start(ws: WebSocketTestSession, command: str = "bash", **extra: Any) -> dict[str, Any]:
    """Send the run request; return the server's first answer."""
    ws.send_text(json.dumps({"command": command, "tty": False, **extra}))
    answer: dict[str, Any] = json.loads(ws.receive_text())
    return answer


def frame(ws: WebSocketTestSession) -> tuple[int, bytes]:
    data = ws.receive_bytes()
    return data[0], data[1:]


def closed_with(ws: WebSocketTestSession) -> int:
    """Receive until the server closes; return the close code."""
    with pytest.raises(WebSocketDisconnect) as info:
        while True:
            ws.receive_text()
    return info.value.code


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def anonymous(stack: Stack) -> Iterator[TestClient]:
    with TestClient(stack.api, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": basic("dev", "not-a-token")},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Token whatever"},
    ],
)
def test_a_handshake_without_a_valid_token_is_refused_before_accept(
    anonymous: TestClient, stack: Stack, deployed: str, headers: dict[str, str]
) -> None:
    events = len(stack.events.events)
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        anonymous.websocket_connect(PATH, headers=headers),
    ):
        pass  # pragma: no cover
    response = info.value
    assert response.status_code == 401
    assert response.json() == {"id": "unauthorized", "message": UNAUTHORIZED, "url": ""}
    assert response.headers["request-id"]
    assert stack.scheduler.attachments == []
    assert len(stack.events.events) == events


def test_basic_auth_with_the_token_as_password_is_accepted(
    anonymous: TestClient, stack: Stack, deployed: str
) -> None:
    with anonymous.websocket_connect(PATH, headers={"Authorization": basic("", stack.token)}) as ws:
        assert start(ws, "echo hi") == {"dyno": "v1.run.1"}
        assert frame(ws) == (1, b"hi\n")
        assert json.loads(ws.receive_text()) == {"exit": 0}


def test_stdin_is_echoed_stdout_and_stderr_are_apart_and_the_exit_code_comes_last(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    with client.websocket_connect(PATH) as ws:
        assert start(ws, "bash", env={"A": "1"}) == {"dyno": "v1.run.1"}
        listed = [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()]
        assert "v1.run.1" in listed  # listed while it runs
        ws.send_bytes(b"hello\n")
        assert frame(ws) == (1, b"hello\n")
        ws.send_bytes(b"warn oops\nexit 7\n")
        assert frame(ws) == (2, b"oops\n")
        assert json.loads(ws.receive_text()) == {"exit": 7}
        assert closed_with(ws) == 1000
    attachment = stack.scheduler.attachments[0]
    assert attachment.stdin == b"hello\nwarn oops\nexit 7\n"
    assert attachment.command == ("bash",)
    assert stack.scheduler.killed == ["v1.run.1"]  # removed after a normal exit too
    listed = [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()]
    assert "v1.run.1" not in listed
    runs = [e for e in stack.events.events if e.kind == "run"]
    assert [e.text for e in runs] == ["alice started running `bash` (attached) on acme-inc"]


def test_end_of_stdin_ends_the_fake_process_with_0(client: TestClient, deployed: str) -> None:
    with client.websocket_connect(PATH) as ws:
        start(ws)
        ws.send_bytes(b"last line without newline")
        ws.send_text(json.dumps({"eof": True}))
        assert frame(ws) == (1, b"last line without newline\n")
        assert json.loads(ws.receive_text()) == {"exit": 0}


def test_a_procfile_process_by_name_with_env_and_size(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    with client.websocket_connect(PATH) as ws:
        start(ws, "migrate --all", env={"GREETING": "hi"}, size="2X")
        ws.send_text(json.dumps({"eof": True}))
        assert json.loads(ws.receive_text()) == {"exit": 0}
    process = stack.scheduler.attachments[0]
    assert process.command == ("./bin/migrate", "--all")


def test_with_a_tty_everything_is_stdout_and_resizes_reach_the_process(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    with client.websocket_connect(PATH) as ws:
        start(ws, tty=True, rows=24, cols=80)
        ws.send_bytes(b"size\n")
        assert frame(ws) == (1, b"24 80\n")
        ws.send_text(json.dumps({"resize": [40, 120]}))
        ws.send_text(json.dumps({"resize": [0, -1]}))  # nonsense is ignored
        ws.send_text("not json")
        ws.send_bytes(b"size\nwarn on the terminal\n")
        assert frame(ws) == (1, b"40 120\n")
        assert frame(ws) == (1, b"on the terminal\n")
        ws.send_bytes(b"exit 0\n")
        assert json.loads(ws.receive_text()) == {"exit": 0}
    assert stack.scheduler.attachments[0].resizes == [(40, 120)]


def test_a_client_that_goes_away_has_its_process_killed_and_removed(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    with client.websocket_connect(PATH) as ws:
        start(ws)
        ws.send_bytes(b"still here\n")
        assert frame(ws) == (1, b"still here\n")
    attachment = stack.scheduler.attachments[0]
    assert attachment.killed
    assert attachment.wait(0) == 137
    assert stack.scheduler.killed == ["v1.run.1"]
    assert [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()] == ["v1.web.1"]


def test_a_client_that_goes_away_before_the_request_starts_nothing(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    with client.websocket_connect(PATH):
        pass
    assert stack.scheduler.attachments == []


def test_an_unknown_app_is_an_error_message_then_a_close(client: TestClient, stack: Stack) -> None:
    with client.websocket_connect("/apps/nope/attach") as ws:
        answer = start(ws)
        assert answer["error"]["id"] == "not_found"
        assert "nope" in answer["error"]["message"]
        assert set(answer["error"]) >= {"id", "message", "url"}
        assert closed_with(ws) == 4404
    assert stack.scheduler.attachments == []


@pytest.mark.parametrize(
    ("first", "needle"),
    [
        ("not json", "malformed JSON"),
        ("[1]", "must be a JSON object"),
        (json.dumps({"tty": False}), "missing field 'command'"),
        (json.dumps({"command": "bash", "env": {"A": 1}}), "'env' must be an object of strings"),
        (json.dumps({"command": "bash", "size": "huge"}), "huge"),
        (json.dumps({"command": "bash", "tty": "yes"}), "'tty' must be a boolean"),
        (json.dumps({"command": "bash", "rows": 0}), "'rows'"),
        (json.dumps({"command": "'unterminated"}), "cannot parse command"),
    ],
)
def test_a_bad_request_is_refused_with_a_reason(
    client: TestClient, stack: Stack, deployed: str, first: str, needle: str
) -> None:
    with client.websocket_connect(PATH) as ws:
        ws.send_text(first)
        answer = json.loads(ws.receive_text())
        assert answer["error"]["id"] == "bad_request"
        assert needle in answer["error"]["message"], answer
        assert closed_with(ws) == 4400
    assert stack.scheduler.attachments == []


def test_a_binary_first_message_is_refused(client: TestClient, deployed: str) -> None:
    with client.websocket_connect(PATH) as ws:
        ws.send_bytes(b"{}")
        answer = json.loads(ws.receive_text())
        assert "first message must be the run request" in answer["error"]["message"]
        assert closed_with(ws) == 4400


def test_the_commit_message_header_is_honoured(client: TestClient, stack: Stack) -> None:
    assert client.post("/apps", json={"name": "acme"}).status_code == 201
    deployed = client.post("/apps/acme/deploys", json={"image": IMAGE})
    assert deployed.status_code in (200, 201), deployed.text
    with client.websocket_connect(
        "/apps/acme/attach", headers={"Commit-Message": "fix the data"}
    ) as ws:
        start(ws, "echo done")
        assert frame(ws) == (1, b"done\n")
        assert json.loads(ws.receive_text()) == {"exit": 0}
    run = [e for e in stack.events.events if e.kind == "run"][-1]
    assert run.message == "fix the data"
    assert run.text == "alice started running `echo done` (attached) on acme"


def test_a_required_message_is_asked_for(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, messages_required=True)
    stack.images.add(IMAGE, procfile=PROCFILE)
    with stack.client() as client:
        headers = {"Commit-Message": "setup"}
        assert client.post("/apps", json={"name": APP}, headers=headers).status_code == 201
        client.post("/deploys", json={"image": IMAGE}, headers=headers)
        with client.websocket_connect(PATH) as ws:
            answer = start(ws)
            assert answer["error"]["id"] == "message_required"
            assert closed_with(ws) == 4400
        with client.websocket_connect(PATH, headers=headers) as ws:
            assert start(ws, "exit 4") == {"dyno": "v1.run.1"}
            assert json.loads(ws.receive_text()) == {"exit": 4}


def test_attached_runs_take_stream_slots(stack: Stack, deployed: str) -> None:
    """An attached run holds one of its token's stream slots until it has ended."""
    from empire.api import create_app

    api = create_app(stack.empire, streams_per_token=1)
    with TestClient(api) as client:
        client.headers["Authorization"] = f"Bearer {stack.token}"
        with client.websocket_connect(PATH) as ws:
            assert start(ws) == {"dyno": "v1.run.1"}
            with client.websocket_connect(PATH) as second:
                answer = start(second)
                assert answer["error"]["id"] == "rate_limit"
                assert answer["error"]["message"].startswith("too many streams open")
                assert closed_with(second) == 4429
            ws.send_bytes(b"exit 0\n")
            assert json.loads(ws.receive_text()) == {"exit": 0}
        with client.websocket_connect(PATH) as ws:  # its slot is back
            assert start(ws, "echo again") == {"dyno": "v1.run.2"}


def test_post_dynos_with_attach_points_to_the_websocket(client: TestClient, deployed: str) -> None:
    """In process (no server to hand the connection over: see test_go_emp.py for Go emp's
    hijacked run on a real one), an attached POST points to the WebSocket."""
    response = client.post(f"/apps/{APP}/dynos", json={"command": "bash", "attach": True})
    body = error(response, 501, "not_implemented")
    assert f"/apps/{APP}/attach" in body["message"]
    assert "emp run -d" in body["message"]
