"""The clients tier: a real `empire server` process (fake scheduler and images, SQLite in a
temp dir), driven by the unmodified `heroku` CLI (npm heroku@11.10.0) and by heroku3.

`server` is started once per session, with its admin user `dev` made by `empire users create`
beforehand, and stopped with SIGTERM. `heroku` runs the CLI with the environment block of
heroku-compat.md §1 and a throwaway HOME; a missing CLI fails the tier, it does not skip it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.harness import Heroku, Result, Server
from support.server import EmpireServer
from support.services import REPO_ROOT, free_port

HEROKU_CLI_VERSION = "11.10.0"
HEROKU_PREFIX = REPO_ROOT / ".cache" / "heroku-cli"
HEROKU_BIN = HEROKU_PREFIX / "node_modules" / ".bin" / "heroku"
# Ports Node's fetch refuses ("bad ports"); `heroku logs` fetches the logplex_url with it.
FETCH_BAD_PORTS = {5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080}
START_TIMEOUT = 30.0


def _port() -> int:
    while (port := free_port()) in FETCH_BAD_PORTS:
        pass
    return port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`empire server --port <free port>` with its own data directory."""
    empire = EmpireServer(
        tmp_path_factory.mktemp("empire-data"),
        env={"EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake", "EMPIRE_LOG_LEVEL": "info"},
        port=_port(),
    )
    token = empire.create_user("dev", email="dev@example.com")
    with empire:
        assert empire.process is not None
        yield Server(empire.url, token, empire.process, empire.log_path)


# -- the heroku CLI ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def heroku_bin() -> Path:
    """The pinned heroku CLI; its absence fails the tier with the command that installs it."""
    package = HEROKU_PREFIX / "node_modules" / "heroku" / "package.json"
    if not HEROKU_BIN.exists() or not package.exists():
        pytest.fail(
            f"the heroku CLI is not installed at {HEROKU_BIN}: run scripts/bootstrap, or "
            f"npm install --prefix {HEROKU_PREFIX} heroku@{HEROKU_CLI_VERSION}"
        )
    version = json.loads(package.read_text())["version"]
    assert version == HEROKU_CLI_VERSION, f"heroku CLI {version} at {HEROKU_BIN}"
    return HEROKU_BIN


@pytest.fixture(scope="session")
def heroku(server: Server, heroku_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Heroku:
    """Run `heroku ARGS...` against the server (heroku-compat.md §1) in a throwaway HOME."""
    home = tmp_path_factory.mktemp("heroku-home")
    (home / ".cache" / "heroku").mkdir(parents=True)
    (home / ".cache" / "heroku" / "terms-of-service").touch()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "HEROKU_HOST": server.url,
        "HEROKU_API_KEY": server.token,
        "HEROKU_PARTICLEBOARD_URL": server.url,
        "DISABLE_TELEMETRY": "true",
        "HEROKU_SKIP_ANALYTICS": "1",
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
        "HEROKU_DISABLE_AUTOUPDATE": "true",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }

    def run(*argv: str, token: str | None = None) -> Result:
        result = subprocess.run(
            [str(heroku_bin), *argv],
            env={**env, "HEROKU_API_KEY": token or server.token},
            cwd=home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(list(argv), result.returncode, result.stdout, result.stderr)

    return run
