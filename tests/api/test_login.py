"""Logging in with a password, listing and revoking tokens."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.api_support import error
from empire.api import create_app
from empire.api.auth import Logins
from empire.passwords import hash_password
from support.stack import Stack, make_stack


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    stack = make_stack(tmp_path)
    stack.empire.create_user("bob", email="bob@example.com")
    stack.empire.set_password("bob", "correct horse")
    return stack


def login(stack: Stack, user: str, password: str) -> httpx.Response:
    client = stack.client()
    del client.headers["Authorization"]
    return client.post(
        "/oauth/authorizations", json={"description": "laptop"}, auth=(user, password)
    )


def test_login_issues_a_token_that_works(stack: Stack) -> None:
    response = login(stack, "bob", "correct horse")
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "bob@example.com" and body["description"] == "laptop"
    assert body["access_token"]["expires_in"] == 30 * 24 * 3600
    token = body["access_token"]["token"]
    account = stack.client(token).get("/account")
    assert account.status_code == 200 and account.json()["name"] == "bob"


@pytest.mark.parametrize(
    ("user", "password"), [("bob", "wrong horse"), ("nobody", "correct horse"), ("alice", "x")]
)
def test_bad_credentials_get_one_message(stack: Stack, user: str, password: str) -> None:
    response = login(stack, user, password)
    assert response.status_code == 401
    assert response.json() == {
        "id": "unauthorized",
        "message": "Invalid credentials provided: check your user name and password",
        "url": "",
    }


def test_login_needs_basic_credentials(stack: Stack) -> None:
    client = stack.client()
    del client.headers["Authorization"]
    response = client.post("/oauth/authorizations", json={})
    assert response.status_code == 401
    assert "emp login" in response.json()["message"]


def test_tokens_are_listed_and_revoked(stack: Stack) -> None:
    token = login(stack, "bob", "correct horse").json()
    bob = stack.client(token["access_token"]["token"])
    listed = bob.get("/oauth/authorizations").json()
    by_description = {t["description"]: t["id"] for t in listed}
    assert by_description.keys() == {"created with the user", "laptop"}
    assert by_description["laptop"] == token["id"]
    assert {t["access_token"]["token"] for t in listed} == {None}  # secrets are never stored
    assert bob.delete(f"/oauth/authorizations/{token['id']}").status_code == 200
    assert bob.get("/account").status_code == 401
    again = stack.client().delete(f"/oauth/authorizations/{token['id']}")
    assert again.status_code == 404


def test_a_disabled_user_is_locked_out(stack: Stack) -> None:
    token = login(stack, "bob", "correct horse").json()["access_token"]["token"]
    stack.empire.disable_user("bob")
    assert stack.client(token).get("/account").status_code == 401
    assert login(stack, "bob", "correct horse").status_code == 401


def test_short_passwords_are_refused(stack: Stack) -> None:
    from empire.errors import Invalid

    with pytest.raises(Invalid, match="too short"):
        stack.empire.set_password("bob", "short")


# -- limits: per client address and user name, the same cost for unknown users ----------------


def limited(stack: Stack, logins: Logins) -> TestClient:
    """A client without a token of an API whose logins are limited by `logins`."""
    return TestClient(create_app(stack.empire, logins=logins), raise_server_exceptions=False)


def attempt(client: TestClient, user: str, password: str) -> httpx.Response:
    return client.post("/oauth/authorizations", json={}, auth=(user, password))


def test_logins_are_limited_per_client_address(stack: Stack) -> None:
    client = limited(stack, Logins(per_address=(3, 3600.0), per_user=(100, 1.0)))
    for user in ("bob", "nobody", "alice"):
        assert attempt(client, user, "wrong horse").status_code == 401
    refused = attempt(client, "bob", "correct horse")  # right, but one attempt too many
    body = error(refused, 429, "rate_limit")
    assert body["message"].startswith("too many login attempts from testclient: try again in ")
    assert 1 <= int(refused.headers["retry-after"]) <= 3600


def test_logins_are_limited_per_user_name(stack: Stack) -> None:
    client = limited(stack, Logins(per_address=(100, 1.0), per_user=(2, 3600.0)))
    for _ in range(2):
        assert attempt(client, "bob", "wrong horse").status_code == 401
    refused = attempt(client, "BOB", "correct horse")
    assert error(refused, 429, "rate_limit")["message"].startswith(
        "too many login attempts for BOB: try again in "
    )
    assert int(refused.headers["retry-after"]) >= 1
    assert attempt(client, "alice", "wrong horse").status_code == 401  # another user's own


def test_a_flood_of_logins_is_refused_rather_than_queued(stack: Stack) -> None:
    client = limited(stack, Logins(max_pending=0))
    body = error(attempt(client, "bob", "correct horse"), 429, "rate_limit")
    assert body["message"] == "too many logins in progress on this server: try again in a second"


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every bcrypt check: the thread it ran on and the hash it was against."""
    import bcrypt

    seen: list[tuple[str, str]] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        seen.append((threading.current_thread().name, hashed.decode()))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return seen


@pytest.mark.parametrize("user", ["bob", "nobody", "alice"])  # a password, none, no such user
def test_every_login_costs_one_bcrypt_check_of_the_same_cost(
    stack: Stack, checks: list[tuple[str, str]], user: str
) -> None:
    """An unknown user (or one without a password) is checked against a dummy hash: a login
    takes as long whoever it names, so its time tells nothing of who exists."""
    assert login(stack, user, "wrong horse").status_code == 401
    [(thread, hashed)] = checks
    assert hashed.split("$")[2] == hash_password("correct horse").split("$")[2]  # the cost
    assert thread.startswith("empire-login")  # not a worker of the shared pool
