"""POST /deploys and /apps/{app}/deploys stream Docker jsonmessages with Empire's Status
lines; log sessions stream Empire's plain text or hand Heroku clients a logplex_url."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, IMAGE, ndjson
from empire.model import Outcome
from empire.scheduler import Verdict
from support.stack import Stack


def test_deploy_streams_empire_status_lines(client: TestClient, stack: Stack) -> None:
    identity = stack.images.add(IMAGE, procfile=b"web: ./bin/web\n").identity
    response = client.post("/deploys", json={"image": IMAGE, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; boundary=NL"
    assert response.text.endswith("\n")
    messages = ndjson(response.text)
    statuses = [m["status"] for m in messages if "status" in m and "id" not in m]
    assert statuses == [
        f"Status: Resolved {IMAGE} to {identity}",
        'Status: Extracted Procfile from "/app/Procfile"',
        "Status: Created new release v1 for acme-inc",
        "Status: web: 1 instances running",
        "Status: Finished processing events for release v1 of acme-inc",
        "Status: Release v1 of acme-inc succeeded",
    ]
    # the pull progress comes first, in Docker's shape
    assert messages[0] == {"status": "Pulling from remind101/acme-inc", "id": "latest"}
    assert not any("errorDetail" in m for m in messages)
    app = client.get(f"/apps/{APP}").json()
    assert app["repo"] == "remind101/acme-inc"


def test_deploy_to_a_named_app(client: TestClient, deployed: str) -> None:
    client.post("/apps", json={"name": "staging"})
    response = client.post("/apps/staging/deploys", json={"image": IMAGE})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; boundary=NL"
    statuses = [m.get("status") for m in ndjson(response.text)]
    assert "Status: Created new release v1 for staging" in statuses
    assert "Status: Finished processing events for release v1 of staging" in statuses
    # a second deploy is v2 and keeps the formation
    client.patch("/apps/staging/formation", json={"updates": [{"type": "web", "quantity": 2}]})
    again = client.post("/apps/staging/deploys", json={"image": IMAGE})
    statuses = [m.get("status") for m in ndjson(again.text)]
    assert "Status: Created new release v2 for staging" in statuses
    assert client.get("/apps/staging/formation/web").json()["quantity"] == 2


@pytest.mark.parametrize("body", [{"stream": False}, {}, {"stream": None}])
def test_without_stream_the_scheduler_lines_are_left_out(
    client: TestClient, body: dict[str, object]
) -> None:
    response = client.post("/deploys", json={"image": IMAGE, **body})
    statuses = [m.get("status") for m in ndjson(response.text)]
    assert "Status: web: 1 instances running" not in statuses
    assert statuses[-2:] == [
        "Status: Finished processing events for release v1 of acme-inc",
        "Status: Release v1 of acme-inc succeeded",
    ]


def test_deploy_of_an_image_without_procfile_uses_its_cmd(client: TestClient, stack: Stack):
    stack.images.add("acme/worker:v1", cmd=["./bin/worker", "--fast"])
    response = client.post("/deploys", json={"image": "acme/worker:v1"})
    statuses = [m.get("status") for m in ndjson(response.text)]
    assert "Status: Generating Procfile from CMD: ['./bin/worker', '--fast']" in statuses
    assert client.get("/apps/worker/formation/web").json()["command"] == "./bin/worker --fast"


def test_deploy_of_an_image_without_digest(client: TestClient, stack: Stack) -> None:
    resolved = stack.images.add("acme/legacy:v1", procfile=b"web: ./x\n", no_digest=True)
    text = client.post("/deploys", json={"image": "acme/legacy:v1"}).text
    assert {
        "status": "Status: Image has no repository digests. "
        f"Using {resolved.identity} as image identifier"
    } in ndjson(text)


@pytest.mark.parametrize(
    ("outcome", "verdict"), [(Outcome.ROLLED_BACK, "was rolled back"), (Outcome.FAILED, "failed")]
)
def test_a_failed_rollout_ends_with_error_detail(
    client: TestClient, stack: Stack, outcome: Outcome, verdict: str
) -> None:
    stack.scheduler.fail_next(Verdict(outcome, "web.1 did not become healthy in 30s"))
    response = client.post("/deploys", json={"image": IMAGE, "stream": True})
    assert response.status_code == 200
    messages = ndjson(response.text)
    text = f"release v1 of acme-inc {verdict}: web.1 did not become healthy in 30s"
    assert messages[-1] == {"errorDetail": {"message": text}, "error": text}
    assert messages[-2] == {
        "status": "Status: Finished processing events for release v1 of acme-inc"
    }
    [release] = client.get(f"/apps/{APP}/releases").json()
    assert release["status"] == "failed"
    assert release["outcome"] == outcome.value


def test_deploy_with_a_commit_message(client: TestClient) -> None:
    client.post("/deploys", json={"image": IMAGE}, headers={"Commit-Message": "fix the thing"})
    [release] = client.get(f"/apps/{APP}/releases").json()
    assert release["description"] == f"Deploy {IMAGE} (alice: 'fix the thing')"


# -- log sessions -----------------------------------------------------------------------------


@pytest.fixture
def logged(stack: Stack, deployed: str) -> list[str]:
    """The app's whole log: the platform's `api` lines of the deploy, then process lines."""
    app_id = stack.empire.app(APP, by=stack.user).id
    lines = [f"2026-11-26T10:00:0{n}Z app[web.1]: line {n}" for n in range(3)]
    stack.scheduler.lines[app_id] = list(lines)
    return [
        f"2026-11-26T10:00:00.000000Z {APP}[api]: alice created {APP}",
        f"2026-11-26T10:00:00.000000Z {APP}[api]: Release v1 created by alice: Deploy {IMAGE}",
        *lines,
    ]


@pytest.mark.parametrize(
    "body", [None, {}, {"duration": 600_000_000_000}, {"duration": 0}, {"duration": 10**30}]
)
def test_empire_log_stream(client: TestClient, logged: list[str], body: object) -> None:
    """emp log: an empty body or a duration in nanoseconds gives a plain text stream."""
    response = client.post(f"/apps/{APP}/log-sessions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "".join(line + "\n" for line in logged)


def test_heroku_log_session_then_sse(stack: Stack, client: TestClient, logged: list[str]):
    """heroku logs: a session with a logplex_url, then EventSource on it, without a token."""
    response = client.post(f"/apps/{APP}/log-sessions", json={"lines": 2, "tail": False})
    assert response.status_code == 201
    session = response.json()
    assert set(session) >= {"id", "logplex_url", "created_at", "updated_at"}
    url = session["logplex_url"]
    assert url.startswith("http://testserver/log-streams/")
    with TestClient(stack.api) as anonymous:
        stream = anonymous.get(url, headers={"Accept": "text/event-stream"})
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.text == "".join(f"data: {line}\n\n" for line in logged[-2:])
        # a session serves once: the tail's reconnect ends it with a 404
        again = anonymous.get(url, headers={"Accept": "text/event-stream"})
        assert again.status_code == 404


def test_heroku_log_session_as_text(stack: Stack, client: TestClient, logged: list[str]) -> None:
    """heroku3 fetches the logplex_url with a plain GET: text lines."""
    url = client.post(f"/apps/{APP}/log-sessions", json={"lines": 100}).json()["logplex_url"]
    with TestClient(stack.api) as anonymous:
        stream = anonymous.get(url)
    assert stream.headers["content-type"].startswith("text/plain")
    assert stream.text == "".join(line + "\n" for line in logged)


def test_log_session_of_one_process(client: TestClient, logged: list[str]) -> None:
    body = {"lines": 10, "tail": True, "dyno": "web", "source": "app"}
    response = client.post(f"/apps/{APP}/log-sessions", json=body)
    assert response.status_code == 201
