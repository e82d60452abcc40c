"""Logging in with a password, listing and revoking tokens."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

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
