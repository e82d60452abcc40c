"""The clients tier: a real `empire server` process (fake scheduler and images, SQLite in a
temp dir), driven by the unmodified `heroku` CLI (npm heroku@11.10.0) and by heroku3.

`server` is started once per session, with its admin user `dev` made by `empire users create`
beforehand, and stopped with SIGTERM. `heroku` runs the CLI with the environment block of
heroku-compat.md §1 and a throwaway HOME; a missing CLI fails the tier, it does not skip it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clients.harness import Heroku, Result, Server
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


def _empire_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMPIRE_")}
    env.update(
        EMPIRE_DATA_DIR=str(data_dir),
        EMPIRE_IMAGES="fake",
        EMPIRE_SCHEDULER="fake",
        EMPIRE_LOG_LEVEL="info",
    )
    return env


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`empire server --port <free port>` with its own data directory."""
    data_dir = tmp_path_factory.mktemp("empire-data")
    env = _empire_env(data_dir)
    empire = str(Path(sys.executable).parent / "empire")
    created = subprocess.run(
        [empire, "users", "create", "dev", "--admin", "--email", "dev@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    token = created.stdout.strip().splitlines()[-1]

    port = _port()
    log = data_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [empire, "server", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    try:
        _wait_healthy(server)
        yield server
    finally:
        _stop(process)


def _wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"empire server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"empire server did not become healthy in {START_TIMEOUT}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


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
