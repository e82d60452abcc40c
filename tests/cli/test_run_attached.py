"""`emp run` attached, against a real `empire server` process (fake scheduler and images).

emp's WebSocket client needs a real socket, so these run against a server process rather than
the in-process API. The fake scheduler's canned process echoes stdin lines on stdout; `warn X`
writes X on stderr, `exit N` exits N, `size` prints the terminal's `<rows> <cols>`.
"""

from __future__ import annotations

import fcntl
import io
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from emp.cli import main
from emp.session import Io
from support.server import EmpireServer
from support.services import free_port
from support.waiting import read_until, wait_for

EMP = Path(sys.executable).parent / "emp"


class Result(NamedTuple):
    code: int
    out: str
    err: str


class Server(NamedTuple):
    server: EmpireServer
    env: dict[str, str]  # emp's environment: the API URL and a netrc logged in as alice


def _serve(data: Path, extra: dict[str, str] | None = None) -> Iterator[Server]:
    server = EmpireServer(
        data, env={"EMPIRE_SCHEDULER": "fake", "EMPIRE_IMAGES": "fake", **(extra or {})}
    )
    data.mkdir(parents=True)
    token = server.create_user("alice")
    with server:
        netrc = data / "netrc"
        netrc.write_text(f"machine 127.0.0.1:{server.port}\n  login alice\n  password {token}\n")
        netrc.chmod(0o600)
        headers = {"Authorization": f"Bearer {token}", "Commit-Message": "setup"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
            assert api.post("/apps", json={"name": "acme"}).status_code == 201
            deployed = api.post("/apps/acme/deploys", json={"image": "acme/acme:v1"})
            assert deployed.status_code == 200, deployed.text
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(data),
            "EMPIRE_API_URL": server.url,
            "NETRC_PATH": str(netrc),
            "EMPAPP": "acme",
        }
        yield Server(server, env)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _serve(tmp_path_factory.mktemp("attach") / "empire")


def emp(server: Server, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
    """Run `emp` in this process with piped (non-terminal) streams."""
    out, err = io.StringIO(), io.StringIO()
    streams = Io(
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        stdin_tty=False,
        stdout_tty=False,
        environ={**server.env, **(env or {})},
    )
    code = main(list(args), io=streams)
    return Result(code, out.getvalue(), err.getvalue())


def test_stdout_stderr_and_the_exit_code_pass_through(server: Server) -> None:
    assert emp(server, "run", "bash", stdin="hello\nwarn oops\nexit 3\nnot read\n") == (
        3,
        "hello\n",
        "oops\n",
    )


def test_end_of_stdin_reaches_the_process(server: Server) -> None:
    assert emp(server, "run", "cat", stdin="héllo\nlast, no newline") == (
        0,
        "héllo\nlast, no newline\n",
        "",
    )


def test_a_command_with_arguments(server: Server) -> None:
    assert emp(server, "run", "-a", "acme", "echo", "hi", "there") == (0, "hi there\n", "")
    assert emp(server, "run", "--", "exit", "9") == (9, "", "")


def test_an_unknown_app(server: Server) -> None:
    code, out, err = emp(server, "run", "-a", "nope", "bash")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "nope" in err and err.count("\n") == 1


def test_a_bad_size_is_the_server_s_error(server: Server) -> None:
    code, out, err = emp(server, "run", "-s", "huge", "bash")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "HUGE" in err and err.count("\n") == 1


def test_a_bad_token_is_refused_at_the_handshake(server: Server, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1:{server.server.port}\n  login alice\n  password bad\n")
    netrc.chmod(0o600)
    assert emp(server, "run", "bash", env={"NETRC_PATH": str(netrc)}) == (
        1,
        "",
        "error: Request not authenticated, API token is missing, invalid or expired "
        "Log in with `emp login`.\n",
    )


def test_a_server_that_is_down(server: Server) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert emp(server, "run", "bash", env={"EMPIRE_API_URL": url}) == (
        1,
        "",
        f"error: cannot reach Empire at {url}: connection refused\n",
    )


def test_the_real_console_script_with_pipes_and_with_dev_null(server: Server) -> None:
    piped = subprocess.run(
        [str(EMP), "run", "bash"],
        input=b"hello\nwarn err\nexit 5\n",
        capture_output=True,
        env=server.env,
        timeout=60,
        check=False,
    )
    assert (piped.returncode, piped.stdout, piped.stderr) == (5, b"hello\n", b"err\n")
    null = subprocess.run(
        [str(EMP), "run", "bash"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=server.env,
        timeout=60,
        check=False,
    )
    assert (null.returncode, null.stdout, null.stderr) == (0, b"", b"")


def test_a_terminal_is_raw_sized_resized_and_restored(server: Server) -> None:
    master, slave = os.openpty()
    _set_size(slave, 30, 100)
    before = termios.tcgetattr(slave)
    process = subprocess.Popen(
        [str(EMP), "run", "bash"],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**server.env, "TERM": "xterm"},
    )
    try:
        _wait_for_raw_mode(slave, process)
        os.write(master, b"size\n")
        assert b"30 100\n" in read_until(master, b"30 100\n")  # raw: no local echo, no CRLF
        _set_size(slave, 40, 120)
        os.kill(process.pid, signal.SIGWINCH)
        deadline = time.monotonic() + 10
        seen = b""
        while b"40 120" not in seen and time.monotonic() < deadline:
            os.write(master, b"size\n")
            seen += read_until(master, b"\n", timeout=2)
        assert b"40 120\n" in seen
        os.write(master, b"warn to the terminal\nexit 4\n")
        assert b"to the terminal\n" in read_until(master, b"to the terminal\n")
        assert process.wait(timeout=30) == 4
        assert process.stderr is not None and process.stderr.read() == b""
        assert termios.tcgetattr(slave) == before  # restored
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
        os.close(slave)


def test_a_required_message_is_asked_for(tmp_path: Path) -> None:
    for server in _serve(tmp_path / "empire", {"EMPIRE_MESSAGES_REQUIRED": "true"}):
        assert emp(server, "run", "echo", "x") == (
            1,
            "",
            "error: A message is required for this action, please run again with '-m'.\n",
        )
        assert emp(server, "run", "-m", "why not", "echo", "x") == (0, "x\n", "")


def _wait_for_raw_mode(fd: int, process: subprocess.Popen[bytes]) -> None:
    def raw() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        return not termios.tcgetattr(fd)[3] & termios.ICANON

    wait_for(raw, 30, "emp to put the terminal in raw mode", interval=0.05)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
