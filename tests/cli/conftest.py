"""Run `emp` in process against the in-process API (fake scheduler, fake images, frozen clock)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from fastapi.testclient import TestClient

from emp.cli import main
from emp.session import Io
from support.stack import FrozenClock, Stack, make_stack

API_URL = "http://127.0.0.1:8080"


class Result(NamedTuple):
    """What one `emp` run returned and printed: compare it with `(code, stdout, stderr)`."""

    code: int
    out: str
    err: str


class Emp:
    """Runs `emp` commands against a stack, like a user at a shell with a netrc and EMPAPP."""

    def __init__(self, stack: Stack, tmp_path: Path) -> None:
        self.stack = stack
        self.netrc = tmp_path / "netrc"
        self.netrc.write_text(f"machine 127.0.0.1:8080\n  login alice\n  password {stack.token}\n")
        self.netrc.chmod(0o600)
        self.env: dict[str, str] = {
            "EMPIRE_API_URL": API_URL,
            "NETRC_PATH": str(self.netrc),
            "HOME": str(tmp_path),
        }
        self.factory: Callable[[str], httpx.Client] = self.test_client
        self.requests: list[httpx.Request] = []

    def test_client(self, url: str) -> httpx.Client:
        """Return an httpx client that calls the stack's API in process, recording requests."""
        client = TestClient(self.stack.api, base_url=url, raise_server_exceptions=False)
        client.event_hooks = {"request": [self.requests.append]}
        return client

    def __call__(
        self,
        *args: str,
        factory: Callable[[str], httpx.Client] | None = None,
        stdin: str = "",
        tty: bool = False,
        env: dict[str, str] | None = None,
        terminal: bool = False,
    ) -> Result:
        """Run emp; `tty` makes stdin a terminal, `terminal` stdout and stderr."""
        out, err = io.StringIO(), io.StringIO()
        streams = Io(
            stdin=io.StringIO(stdin),
            stdout=out,
            stderr=err,
            stdin_tty=tty,
            stdout_tty=terminal,
            stderr_tty=terminal,
            environ={**self.env, **(env or {})},
            now=self.stack.clock,
        )
        code = main(list(args), io=streams, client_factory=factory or self.factory)
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with TZ=UTC so prettyTime's local time is deterministic."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def clock() -> FrozenClock:
    """The stack's clock: 2026-11-26 10:00 UTC until advanced."""
    return FrozenClock()


@pytest.fixture
def stack(tmp_path: Path, clock: FrozenClock) -> Stack:
    """A fresh in-process Empire."""
    data = tmp_path / "empire"
    data.mkdir()
    return make_stack(data, clock=clock)


@pytest.fixture
def messages_stack(tmp_path: Path, clock: FrozenClock) -> Stack:
    """An in-process Empire that requires a commit message on every write."""
    data = tmp_path / "empire"
    data.mkdir()
    return make_stack(data, clock=clock, messages_required=True)


@pytest.fixture
def emp(stack: Stack, tmp_path: Path) -> Emp:
    """An `emp` runner logged in as alice."""
    return Emp(stack, tmp_path)


@pytest.fixture
def acme(emp: Emp) -> Emp:
    """An `emp` runner with app `acme` deployed once (web: ./bin/web) and EMPAPP=acme."""
    assert emp("create", "acme").code == 0
    assert emp("deploy", "-a", "acme", "remind101/acme-inc:v1").code == 0
    emp.env["EMPAPP"] = "acme"
    return emp
