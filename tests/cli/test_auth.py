"""Transcripts: login, logout, creds; credentials from netrc and from the URL."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import httpx

from .conftest import Emp

OTHER = "machine github.com\n  login me\n  password gh\n"


class FakeLogin:
    """A tiny server for POST /oauth/authorizations (Basic user:password → token)."""

    def __init__(self, *, two_factor: bool = False) -> None:
        self.requests: list[httpx.Request] = []
        self.two_factor = two_factor

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        user, _, password = base64.b64decode(value).decode().partition(":")
        if request.url.path != "/oauth/authorizations" or scheme != "Basic":
            return httpx.Response(404, json={"id": "not_found", "message": "no", "url": ""})
        if (user, password) != ("bob", "s3cret"):
            message = "invalid username or password"
            return httpx.Response(401, json={"id": "unauthorized", "message": message, "url": ""})
        if self.two_factor and request.headers.get("heroku-two-factor-code") != "123456":
            message = "Two factor code is required."
            return httpx.Response(401, json={"id": "two_factor", "message": message, "url": ""})
        token = {"id": "", "token": "tok-bob", "expires_in": None}
        return httpx.Response(201, json={"access_token": token})

    def client(self, url: str) -> httpx.Client:
        return httpx.Client(base_url=url, transport=httpx.MockTransport(self))


def test_login_saves_the_token_for_host_and_port(emp: Emp) -> None:
    emp.netrc.write_text(OTHER)
    server = FakeLogin()
    assert emp("login", stdin="bob\ns3cret\n", factory=server.client) == (0, "Logged in.\n", "")
    assert (
        emp.netrc.read_text() == OTHER + "machine 127.0.0.1:8080\n  login bob\n  password tok-bob\n"
    )
    assert stat.S_IMODE(emp.netrc.stat().st_mode) == 0o600
    request = server.requests[0]
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"bob:s3cret").decode()
    assert request.headers["accept"] == "application/vnd.heroku+json; version=3"
    assert json.loads(request.content) == {"description": "emp login"}


def test_login_creates_the_netrc_with_mode_0600(emp: Emp, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "netrc"
    result = emp(
        "login", stdin="bob\ns3cret\n", factory=FakeLogin().client, env={"NETRC_PATH": str(path)}
    )
    assert result == (0, "Logged in.\n", "")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_login_prompts_on_a_terminal(emp: Emp, monkeypatch: object) -> None:
    import getpass

    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream=None: "s3cret")  # type: ignore[attr-defined]
    emp.netrc.write_text("")
    assert emp("login", stdin="bob\n", tty=True, factory=FakeLogin().client) == (
        0,
        "Enter username: Logged in.\n",
        "",
    )
    assert emp("login", stdin="\n", tty=True, factory=FakeLogin().client) == (
        0,
        "Enter username [bob]: Logged in.\n",
        "",
    )


def test_login_two_factor(emp: Emp) -> None:
    server = FakeLogin(two_factor=True)
    assert emp("login", stdin="bob\ns3cret\n123456\n", factory=server.client) == (
        0,
        "Logged in.\n",
        "",
    )
    assert len(server.requests) == 2


def test_login_failures(emp: Emp) -> None:
    before = emp.netrc.read_text()
    assert emp("login", stdin="bob\nwrong\n", factory=FakeLogin().client) == (
        1,
        "",
        "error: invalid username or password Log in with `emp login`.\n",
    )
    assert emp("login", stdin="bob\n", factory=FakeLogin().client) == (
        1,
        "",
        "error: password is required.\n",
    )
    assert emp.netrc.read_text() == before
    emp.netrc.write_text("")
    assert emp("login", stdin="", factory=FakeLogin().client) == (
        1,
        "",
        "error: username is required.\n",
    )


def test_logout_removes_exactly_the_entry_login_wrote(emp: Emp) -> None:
    emp.netrc.write_text(OTHER + "machine 127.0.0.1\n  login x\n  password y\n")
    emp("login", stdin="bob\ns3cret\n", factory=FakeLogin().client)
    assert emp("logout") == (0, "Logged out.\n", "")
    assert emp.netrc.read_text() == OTHER + "machine 127.0.0.1\n  login x\n  password y\n"


def test_creds(emp: Emp) -> None:
    assert emp("creds") == (0, f"alice {emp.stack.token}\n", "")
    emp.netrc.write_text("")
    assert emp("creds") == (
        1,
        "",
        "error: no credentials for 127.0.0.1:8080: log in with `emp login`\n",
    )


def test_credentials_in_the_url_override_netrc(emp: Emp) -> None:
    emp.netrc.write_text("")
    url = f"http://alice:{emp.stack.token}@127.0.0.1:8080/"
    assert emp("apps", env={"EMPIRE_API_URL": url}) == (0, "", "")
    assert emp.requests[-1].headers["authorization"].startswith("Basic ")
    assert str(emp.requests[-1].url) == "http://127.0.0.1:8080/apps"


def test_unauthorized(emp: Emp) -> None:
    emp.netrc.write_text("machine 127.0.0.1:8080 login alice password wrong\n")
    assert emp("apps") == (
        1,
        "",
        "error: Request not authenticated, API token is missing, invalid or expired "
        "Log in with `emp login`.\n",
    )


def test_no_credentials_at_all(emp: Emp) -> None:
    emp.netrc.write_text("")
    code, out, err = emp("apps")
    assert (code, out) == (1, "")
    assert err.startswith("error: Request not authenticated") and err.count("emp login") == 1


def test_the_netrc_default_entry_is_never_sent(emp: Emp) -> None:
    """`default` is for other programs: over http to whatever EMPIRE_API_URL names, emp would
    hand out its password (issue 13 item 15). Only the API host's own entry is used."""
    emp.netrc.write_text(f"default login alice password {emp.stack.token}\n")
    code, out, err = emp("apps")
    assert (code, out) == (1, "")
    assert err.startswith("error: Request not authenticated")
    assert "authorization" not in emp.requests[-1].headers
    assert emp("creds") == (
        1,
        "",
        "error: no credentials for 127.0.0.1:8080: log in with `emp login`\n",
    )
    emp.netrc.write_text(f"machine 127.0.0.1 login alice password {emp.stack.token}\n")
    assert emp("apps") == (0, "", "")  # the host's entry, as Empire's login wrote it


def test_tokens_are_listed_and_revoked(emp: Emp) -> None:
    stack = emp.stack
    stack.empire.set_password("alice", "correct horse")
    laptop, _ = stack.empire.login("alice", "correct horse", "laptop")
    code, out, err = emp("tokens")
    assert (code, err) == (0, "")
    lines = sorted(out.splitlines(), key=lambda line: not line.startswith(laptop.id))
    assert len(lines) == 2 and lines[0] == f"{laptop.id}  Nov 26 10:00  Dec 26 10:00  laptop"
    listed = json.loads(emp("tokens", "--json").out)
    assert {t["description"] for t in listed} == {"laptop", "created with the user"}
    assert emp("tokens-revoke", laptop.id) == (0, "", f"Revoked token {laptop.id}.\n")
    assert len(emp("tokens").out.splitlines()) == 1
    code, _, err = emp("tokens-revoke", laptop.id)
    assert code == 1 and "has no token" in err
