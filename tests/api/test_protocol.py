"""The wire protocol around every route: Accept versions, Request-Id, RateLimit-Remaining,
the error shape, Content-Type, /openapi.json and /docs."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from api.api_support import error
from support.stack import Stack


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "application/vnd.heroku+json; version=3",
        "application/vnd.heroku+json; version=3.sdk",
        "application/vnd.heroku+json; version=3.cedar-acm",
        "application/vnd.heroku+json;version=3",
        "*/*",
        None,
    ],
)
def test_accepted_versions(client: TestClient, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    if accept is None:
        del client.headers["Accept"]
    response = client.get("/apps", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == []
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("version", ["2", "4", "30", "3x", ""])
def test_other_versions_are_not_acceptable(client: TestClient, version: str) -> None:
    accept = f"application/vnd.heroku+json; version={version}"
    response = client.get("/apps", headers={"Accept": accept})
    error(
        response,
        406,
        "not_acceptable",
        f"API version {version} is not served: use Accept: application/vnd.heroku+json; version=3",
    )
    assert response.headers["request-id"]


def test_version_check_comes_after_authentication(stack: Stack) -> None:
    with TestClient(stack.api) as anonymous:
        response = anonymous.get(
            "/apps", headers={"Accept": "application/vnd.heroku+json; version=2"}
        )
    error(response, 401, "unauthorized")


def test_request_id_is_echoed(client: TestClient) -> None:
    rid = str(uuid.uuid4())
    assert client.get("/apps", headers={"Request-Id": rid}).headers["request-id"] == rid


def test_request_id_takes_the_first_of_a_list(client: TestClient) -> None:
    """The heroku CLI sends a new UUID first, then every id seen so far."""
    first, *seen = (str(uuid.uuid4()) for _ in range(3))
    header = ",".join([first, *seen])
    assert client.get("/apps", headers={"Request-Id": header}).headers["request-id"] == first
    spaced = f"{first}, {seen[0]}"
    assert client.get("/apps", headers={"Request-Id": spaced}).headers["request-id"] == first


def test_request_id_is_made_when_missing_or_unusable(client: TestClient) -> None:
    made = client.get("/apps").headers["request-id"]
    assert uuid.UUID(made)
    junk = client.get("/apps", headers={"Request-Id": "<script>"}).headers["request-id"]
    assert uuid.UUID(junk)
    assert client.get("/apps", headers={"X-Request-Id": "abc-123"}).headers["request-id"] == (
        "abc-123"
    )


def test_request_id_on_errors_and_open_routes(client: TestClient, stack: Stack) -> None:
    assert client.get("/apps/nope", headers={"Request-Id": "r-1"}).headers["request-id"] == "r-1"
    with TestClient(stack.api) as anonymous:
        assert anonymous.get("/apps", headers={"Request-Id": "r-2"}).headers["request-id"] == (
            "r-2"
        )
        assert anonymous.get("/health", headers={"Request-Id": "r-3"}).headers["request-id"] == (
            "r-3"
        )


def test_rate_limit_remaining_counts_down(client: TestClient) -> None:
    first = int(client.get("/apps").headers["ratelimit-remaining"])
    second = int(client.get("/apps").headers["ratelimit-remaining"])
    assert second == first - 1
    body = client.get("/account/rate-limits").json()
    assert body == {"remaining": second - 1}


def test_rate_limit_exhausted_is_429(stack: Stack) -> None:
    from empire.api import create_app

    api = create_app(stack.empire, rate_per_hour=2)
    with TestClient(api) as limited:
        limited.headers["Authorization"] = f"Bearer {stack.token}"
        assert limited.get("/apps").status_code == 200
        assert limited.get("/apps").status_code == 200
        response = limited.get("/apps")
    error(
        response,
        429,
        "rate_limit",
        "Your account reached the API rate limit; "
        "please wait a few minutes before making new requests",
    )
    assert response.headers["ratelimit-remaining"] == "0"


def test_unknown_route_with_a_token_is_a_404_in_the_error_shape(client: TestClient) -> None:
    error(client.get("/nope/nothing"), 404, "not_found", "no such route: GET /nope/nothing")


def test_wrong_method_is_a_405_in_the_error_shape(client: TestClient) -> None:
    error(client.put("/apps"), 405, "method_not_allowed", "PUT is not allowed on /apps")


def test_pipeline_couplings_are_a_404_the_cli_tolerates(client: TestClient) -> None:
    error(
        client.get("/apps/acme-inc/pipeline-couplings"),
        404,
        "not_found",
        "Couldn't find that pipeline coupling.",
    )


def test_openapi_document_is_served_without_a_token(stack: Stack) -> None:
    with TestClient(stack.api) as anonymous:
        response = anonymous.get("/openapi.json")
        docs = anonymous.get("/docs")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Empire"
    for path in (
        "/apps",
        "/apps/{app}",
        "/deploys",
        "/apps/{app}/deploys",
        "/apps/{app}/releases",
        "/apps/{app}/config-vars",
        "/apps/{app}/formation",
        "/apps/{app}/dynos",
        "/apps/{app}/domains",
        "/apps/{app}/log-sessions",
    ):
        assert path in document["paths"], path
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


def test_account(client: TestClient, stack: Stack) -> None:
    body = client.get("/account").json()
    assert body["id"] == stack.user.id
    assert body["email"] == "alice@example.com"
    assert body["name"] == "alice"


def test_an_unexpected_error_is_a_500_in_the_error_shape(
    client: TestClient, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(stack.empire, "apps", boom)
    response = client.get("/apps", headers={"Request-Id": "req-500"})
    error(
        response,
        500,
        "internal_error",
        "internal server error; see the server log for request req-500",
    )
    assert response.headers["request-id"] == "req-500"
    assert "fire" not in response.text  # internals stay in the log
