"""With EMPIRE_MESSAGES_REQUIRED every write needs a Commit-Message header: without one it is
400 message_required and nothing changes; with one it goes through and is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, IMAGE, PROCFILE, error, take_snapshot
from support.stack import Stack, make_stack

MESSAGE = {"Commit-Message": "JIRA-42 ship the fix"}
WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/apps", {"name": "other"}),
    ("POST", "/organizations/apps", {"name": "other"}),
    ("PATCH", f"/apps/{APP}", {"maintenance": True}),
    ("PATCH", f"/apps/{APP}", {"name": "renamed"}),
    ("DELETE", f"/apps/{APP}", None),
    ("POST", f"/apps/{APP}/certs", {"cert": "acme"}),
    ("POST", "/deploys", {"image": IMAGE}),
    ("POST", f"/apps/{APP}/deploys", {"image": IMAGE}),
    ("POST", f"/apps/{APP}/releases", {"release": "1"}),
    ("PATCH", f"/apps/{APP}/config-vars", {"FOO": "bar"}),
    ("PATCH", f"/apps/{APP}/config-vars", {"KEEP": None}),
    ("PATCH", f"/apps/{APP}/formation", {"updates": [{"type": "web", "quantity": 2}]}),
    ("PATCH", f"/apps/{APP}/formation/web", {"quantity": "2"}),
    ("POST", f"/apps/{APP}/dynos", {"command": "migrate", "attach": False}),
    ("DELETE", f"/apps/{APP}/dynos", None),
    ("DELETE", f"/apps/{APP}/dynos/web", None),
    ("DELETE", f"/apps/{APP}/dynos/web.1", None),
    ("DELETE", f"/apps/{APP}/formations/web", None),
    ("POST", f"/apps/{APP}/domains", {"hostname": "api.example.com"}),
    ("DELETE", f"/apps/{APP}/domains/www.example.com", None),
]


def strict_stack(data: Path) -> Stack:
    stack = make_stack(data, messages_required=True)
    stack.images.add(IMAGE, procfile=PROCFILE)
    return stack


@pytest.fixture
def strict(tmp_path: Path) -> Stack:
    return strict_stack(tmp_path)


def prepare(client: TestClient) -> TestClient:
    """acme-inc deployed, with a config var and a domain."""
    client.headers["Accept"] = HEROKU
    deployed = client.post("/deploys", json={"image": IMAGE}, headers=MESSAGE)
    assert deployed.status_code == 200, deployed.text
    for method, path, body in (
        ("PATCH", f"/apps/{APP}/config-vars", {"KEEP": "1"}),
        ("POST", f"/apps/{APP}/domains", {"hostname": "www.example.com"}),
    ):
        response = client.request(method, path, json=body, headers=MESSAGE)
        assert response.status_code < 300, response.text
    return client


@pytest.fixture
def strict_client(strict: Stack) -> Iterator[TestClient]:
    with strict.client() as client:
        yield prepare(client)


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, TestClient]]:
    """One strict Empire for every refused write of the module: each checks that it changed
    nothing, so the next starts from the same state."""
    stack = strict_stack(tmp_path_factory.mktemp("strict"))
    with stack.client() as client:
        yield stack, prepare(client)


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_write_without_a_message_is_refused(
    refusing: tuple[Stack, TestClient],
    method: str,
    path: str,
    body: Any,
    header: str | None,
) -> None:
    strict, strict_client = refusing
    before = take_snapshot(strict)
    headers = {} if header is None else {"Commit-Message": header}
    response = strict_client.request(method, path, json=body, headers=headers)
    error(response, 400, "message_required", "Header 'Commit-Message' is required")
    assert take_snapshot(strict) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_write_with_a_message_goes_through(
    strict_client: TestClient, strict: Stack, method: str, path: str, body: Any
) -> None:
    events = len(strict.events.events)
    response = strict_client.request(method, path, json=body, headers=MESSAGE)
    assert response.status_code < 300, response.text
    if "deploys" in path:
        assert "errorDetail" not in response.text
    new = strict.events.events[events:]
    if "certs" not in path and "cert" not in str(body):
        assert new and all(e.message == "JIRA-42 ship the fix" for e in new), new


def test_the_message_is_in_the_release(strict_client: TestClient) -> None:
    [release] = strict_client.get(
        f"/apps/{APP}/releases", headers={"Range": "version ..; order=desc, max=1"}
    ).json()
    assert release["description"] == "Set KEEP config var (alice: 'JIRA-42 ship the fix')"
    assert release["commit_message"] == "JIRA-42 ship the fix"


def test_reads_need_no_message(strict_client: TestClient) -> None:
    for path in ("/apps", f"/apps/{APP}", f"/apps/{APP}/releases", f"/apps/{APP}/formation"):
        assert strict_client.get(path).status_code == 200
