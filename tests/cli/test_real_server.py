"""A few transcripts with the real `emp` console script against a real `empire server` process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from support.server import EmpireServer

BIN = Path(sys.executable).parent


class Server(NamedTuple):
    url: str
    env: dict[str, str]
    empire: EmpireServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start `empire server` (fake images and scheduler) with a user bob; stop it after."""
    data = tmp_path_factory.mktemp("empire")
    empire = EmpireServer(data, env={"EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake"})
    token = empire.create_user("bob")
    with empire:
        netrc = data / "netrc"
        netrc.write_text(f"machine 127.0.0.1:{empire.port}\n  login bob\n  password {token}\n")
        netrc.chmod(0o600)
        client_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(data),
            "TZ": "UTC",
            "EMPIRE_API_URL": empire.url,
            "NETRC_PATH": str(netrc),
        }
        yield Server(empire.url, client_env, empire)


def emp(
    server: Server, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run the real `emp` console script."""
    done = subprocess.run(
        [BIN / "emp", *args],
        env={**server.env, **(env or {})},
        capture_output=True,
        text=True,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


def test_create_and_info(server: Server) -> None:
    assert emp(server, "create", "acme") == (0, "", "Created acme.\n")
    code, out, err = emp(server, "info", "-a", "acme")
    assert (code, err) == (0, "")
    assert out.startswith("Name: acme\nID: ") and out.endswith("\nMaintenance: disabled\nCert: \n")


def test_deploy_and_ps(server: Server) -> None:
    digest = hashlib.sha256(b"remind101/web-app:v1").hexdigest()
    assert emp(server, "deploy", "remind101/web-app:v1") == (
        0,
        "v1: Pulling from remind101/web-app\n"
        f"Status: Resolved remind101/web-app:v1 to remind101/web-app@sha256:{digest}\n"
        'Status: Extracted Procfile from "/app/Procfile"\n'
        "Status: Created new release v1 for web-app\n"
        "Status: Finished processing events for release v1 of web-app\n"
        "Status: Release v1 of web-app succeeded\n",
        "",
    )
    assert emp(server, "scale", "web=2", "-a", "web-app") == (
        0,
        "",
        "Scaled web-app to web=2:1X.\n",
    )
    code, out, _ = emp(server, "ps", "-a", "web-app")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["v1.web.1", "v1.web.2"]


def test_config(server: Server) -> None:
    emp(server, "create", "conf")
    assert emp(server, "set", "FOO=bar baz", "-a", "conf", "-m", "configure") == (
        0,
        "",
        "Set env vars and restarted conf.\n",
    )
    assert emp(server, "env", env={"EMPAPP": "conf"}) == (0, "FOO=bar baz\n", "")


def test_errors(server: Server) -> None:
    assert emp(server, "info", "-a", "nope") == (
        1,
        "",
        "error: Couldn't find that app: no app named nope\n",
    )
    assert emp(server, "info") == (
        2,
        "",
        "error: no app specified: use -a APP or set EMPAPP\n"
        "Usage: emp info [-a <app or remote>]\nUse 'emp help info' for more information.\n",
    )
    bad = f"http://bob:wrong@{server.url.removeprefix('http://')}"
    assert emp(server, "apps", env={"EMPIRE_API_URL": bad}) == (
        1,
        "",
        "error: Request not authenticated, API token is missing, invalid or expired "
        "Log in with `emp login`.\n",
    )


def test_login_with_a_password_then_logout(server: Server, tmp_path: Path) -> None:
    server.empire.empire("users", "create", "carol", "--password-stdin", input="hunter2hunter2\n")
    netrc = {"NETRC_PATH": str(tmp_path / "netrc")}
    code, out, _ = emp(server, "login", env=netrc, stdin="carol\nhunter2hunter2\n")
    assert (code, out) == (0, "Logged in.\n")
    assert (tmp_path / "netrc").stat().st_mode & 0o777 == 0o600
    assert emp(server, "apps", env=netrc)[0] == 0
    code, _, err = emp(server, "login", env=netrc, stdin="carol\nwrong-password\n")
    assert code == 1 and "Invalid credentials provided" in err
    assert emp(server, "logout", env=netrc) == (0, "Logged out.\n", "")
    code, _, err = emp(server, "apps", env=netrc)
    assert code == 1 and "emp login" in err


def test_a_public_server_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    """Not even with the keys a loopback run made in the data dir: one message names both."""
    loopback = EmpireServer(tmp_path, env={"EMPIRE_SCHEDULER": "fake"})
    loopback.create_user("bob")
    env = loopback.env
    assert {"secret.key", "encryption.key"} <= {p.name for p in tmp_path.iterdir()}
    done = subprocess.run(
        [BIN / "empire", "server", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert (
        "Error: EMPIRE_SECRET_KEY and EMPIRE_ENCRYPTION_KEY are not set: a server listening on "
        "0.0.0.0 must be given them (EMPIRE_SECRET_KEY signs API tokens and webhooks; "
        "EMPIRE_ENCRYPTION_KEY encrypts config vars at rest). Make each with "
        "`empire keys generate` and set it in the environment"
    ) in done.stderr
