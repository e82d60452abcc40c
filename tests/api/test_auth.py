"""Authentication comes before anything else: Bearer or Basic (any user, token as password);
every route but the open ones refuses a request without a valid token, whatever its path,
method or body."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, dashboard, error, routes
from empire.model import Page
from support.stack import FrozenClock, Stack

OPEN = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/log-streams/{secret}"),
    ("POST", "/git-hooks/{secret}"),  # a git push's hook: its secret is the credential
    ("POST", "/oauth/authorizations"),  # login: Basic user:password, see test_login.py
}

UNAUTHORIZED = "Request not authenticated, API token is missing, invalid or expired"
SAMPLE = {"app": APP, "version": "1", "process": "web", "dyno": "v1.web.1", "user": "~"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: SAMPLE.get(m.group(1), "x"), path)


@pytest.fixture
def anonymous(stack: Stack) -> Iterator[TestClient]:
    with TestClient(stack.api, raise_server_exceptions=False) as client:
        yield client


def test_the_route_table_is_what_we_expect(stack: Stack) -> None:
    """Guards the walk below: a new route shows up here and must be looked at."""
    table = set(routes(stack))
    assert len(table) >= 40  # 38 closed + 5 open
    assert ("POST", "/deploys") in table
    assert ("DELETE", "/apps/{app}/dynos/{dyno}") in table
    assert table >= OPEN


def test_every_closed_route_refuses_without_a_token(stack: Stack, anonymous: TestClient) -> None:
    checked = 0
    for method, template in routes(stack):
        if (method, template) in OPEN or dashboard(method, template):
            continue
        path = concrete(template)
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": basic("dev", "not-a-token")},
            {"Authorization": "Bearer "},
            {"Authorization": "Basic !!!"},
            {"Authorization": f"Token {stack.token}"},
        ):
            response = anonymous.request(method, path, headers=headers, json={"name": "x"})
            body = error(response, 401, "unauthorized")
            assert body["message"].startswith(UNAUTHORIZED), (method, path, body)
            checked += 1
    assert checked >= 35 * 6
    assert stack.events.events == []  # nothing above reached the facade


def test_every_closed_route_accepts_a_token(
    stack: Stack, client: TestClient, deployed: str
) -> None:
    """With the token, no route answers 401 (whatever else it answers)."""
    for method, template in routes(stack):
        if (method, template) in OPEN or dashboard(method, template):
            continue
        path = concrete(template)
        body = {"image": "remind101/acme-inc:latest"} if "deploys" in path else {}
        response = client.request(method, path, json=body)
        assert response.status_code != 401, (method, path, response.text)
        assert response.status_code < 500 or response.status_code == 501, (
            method,
            path,
            response.text,
        )


def test_open_routes_need_no_token(anonymous: TestClient) -> None:
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs").status_code == 200
    error(
        anonymous.get("/log-streams/unknown-secret"),
        404,
        "not_found",
        "this log session has ended or never existed",
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/"),
        ("DELETE", "/no/such/thing"),
        ("POST", "/apps/acme-inc/nothing-here"),
        ("GET", "/apps/'; DROP TABLE apps; --"),
        ("OPTIONS", "/apps"),
    ],
)
def test_unknown_paths_refuse_without_a_token(
    anonymous: TestClient, method: str, path: str
) -> None:
    error(anonymous.request(method, path), 401, "unauthorized")


def test_any_body_refuses_without_a_token(anonymous: TestClient, stack: Stack) -> None:
    big = b"x" * (5 << 20)
    for content, content_type in (
        (big, "application/json"),
        (b"{not json", "application/json"),
        (b"\x00\xff\xfe", "application/octet-stream"),
        (b'{"name": "sneaky"}', "application/json"),
    ):
        response = anonymous.post("/apps", content=content, headers={"Content-Type": content_type})
        error(response, 401, "unauthorized")
    assert anonymous.patch("/apps/x/config-vars", content=big).status_code == 401
    assert stack.empire.apps(Page("name"), by=stack.user) == []


def test_bearer(stack: Stack, anonymous: TestClient) -> None:
    response = anonymous.get("/apps", headers={"Authorization": f"Bearer {stack.token}"})
    assert response.status_code == 200
    lower = anonymous.get("/apps", headers={"Authorization": f"bearer {stack.token}"})
    assert lower.status_code == 200


@pytest.mark.parametrize("user", ["", "dev", "dev@example.com", "$token$"])
def test_basic_with_any_user_and_the_token_as_password(
    stack: Stack, anonymous: TestClient, user: str
) -> None:
    """heroku3 sends ":token"; the Go emp sends its netrc login and the token."""
    response = anonymous.get("/apps", headers={"Authorization": basic(user, stack.token)})
    assert response.status_code == 200, response.text


def test_wrong_password_is_refused(stack: Stack, anonymous: TestClient) -> None:
    response = anonymous.get("/apps", headers={"Authorization": basic("alice", "password")})
    error(response, 401, "unauthorized", UNAUTHORIZED)


def test_expired_token_is_refused(stack: Stack, anonymous: TestClient) -> None:
    assert isinstance(stack.clock, FrozenClock)
    headers = {"Authorization": f"Bearer {stack.token}"}
    assert anonymous.get("/apps", headers=headers).status_code == 200
    stack.clock.advance(days=31)
    error(anonymous.get("/apps", headers=headers), 401, "unauthorized", UNAUTHORIZED)
    fresh = stack.empire.create_token("alice", "after the clock moved")
    response = anonymous.get("/apps", headers={"Authorization": f"Bearer {fresh}"})
    assert response.status_code == 200


def test_a_refused_request_changes_nothing(
    stack: Stack, anonymous: TestClient, deployed: str
) -> None:
    before = len(stack.events.events)
    for method, path, body in (
        ("POST", "/apps", {"name": "other"}),
        ("DELETE", "/apps/acme-inc", None),
        ("PATCH", "/apps/acme-inc/config-vars", {"A": "b"}),
        ("PATCH", "/apps/acme-inc/formation", {"updates": [{"type": "web", "quantity": 5}]}),
        ("POST", "/deploys", {"image": "remind101/acme-inc:latest"}),
    ):
        response = anonymous.request(
            method, path, json=body, headers={"Authorization": "Bearer nope"}
        )
        assert response.status_code == 401
    assert len(stack.events.events) == before
    assert [a.name for a in stack.empire.apps(Page("name"), by=stack.user)] == [APP]
