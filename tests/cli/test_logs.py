"""Transcripts: log / logs."""

from __future__ import annotations

import json

import httpx

from .conftest import Emp


def test_log_copies_the_stream(acme: Emp) -> None:
    """Process lines and the platform's lines (`api`), in time order."""
    assert acme("log") == (
        0,
        "2026-11-26T10:00:00.000000Z acme[api]: alice created acme\n"
        "2026-11-26T10:00:00.000000Z acme[api]: Release v1 created by alice: "
        "Deploy remind101/acme-inc:v1\n"
        "2026-11-26T10:00:00Z empire[deploy]: release v1 succeeded\n",
        "",
    )


def test_log_of_the_platform_s_sources(acme: Emp) -> None:
    """`-p api` selects the platform's `api` lines, as `-p web` selects a process type's."""
    acme("scale", "web=2")
    code, out, err = acme("log", "-p", "api")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        "2026-11-26T10:00:00.000000Z acme[api]: alice scaled `web` on acme from 1(1X) to 2(1X)"
    )
    assert all("[api]: " in line for line in out.splitlines())
    assert acme("log", "-p", "router") == (0, "", "")


def test_log_duration_is_sent_in_nanoseconds(acme: Emp) -> None:
    assert acme("logs", "-d", "10m").code == 0
    assert acme("log", "--duration", "1h30m").code == 0
    bodies = [json.loads(r.content) for r in acme.requests if r.url.path.endswith("/log-sessions")]
    assert bodies == [{"duration": 600_000_000_000}, {"duration": 5_400_000_000_000}]


def test_log_tail_and_process(acme: Emp) -> None:
    acme("run", "-d", "./bin/migrate")
    code, out, err = acme("log", "--tail", "-p", "run")
    assert (code, err) == (0, "")
    assert out == "2026-11-26T10:00:00Z empire[run.1]: run ./bin/migrate\n"
    sessions = [r for r in acme.requests if r.url.path.endswith("/log-sessions")]
    assert json.loads(sessions[0].content) == {"dyno": "run", "tail": True}
    assert acme.requests[-1].method == "GET" and "/log-streams/" in acme.requests[-1].url.path


def test_log_strips_keepalive_nul_bytes(emp: Emp) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"one\n\x00two\n\x00", headers={"content-type": "text/plain"}
        )

    client = httpx.Client(base_url="http://127.0.0.1:8080", transport=httpx.MockTransport(serve))
    assert emp("log", "-a", "acme", factory=lambda url: client) == (0, "one\ntwo\n", "")


def test_log_errors(acme: Emp) -> None:
    assert acme("log", "-d", "ten minutes") == (
        1,
        "",
        "error: invalid duration 'ten minutes': use e.g. 10m, 1h or 30s\n",
    )
    assert acme("log", "-a", "nope") == (
        1,
        "",
        "error: Couldn't find that app: no app named nope\n",
    )
    assert acme("log", "extra") == (
        2,
        "",
        "Usage: emp log [-a <app or remote>] [-d <duration>] [-p <process>] [--tail]\n"
        "Use 'emp help log' for more information.\n",
    )
