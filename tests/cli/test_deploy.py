"""Transcripts: deploy, and the rendering of the deploy stream."""

from __future__ import annotations

import hashlib
import io

from emp.commands.deploy import Renderer
from empire.model import Outcome
from empire.scheduler import Verdict
from support.stack import Stack

from .conftest import Emp


def _digest(reference: str) -> str:
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


def test_deploy_to_an_app(emp: Emp) -> None:
    emp("create", "acme")
    digest = _digest("remind101/acme-inc:v1")
    assert emp("deploy", "-a", "acme", "remind101/acme-inc:v1") == (
        0,
        "v1: Pulling from remind101/acme-inc\n"
        f"Status: Resolved remind101/acme-inc:v1 to remind101/acme-inc@{digest}\n"
        'Status: Extracted Procfile from "/app/Procfile"\n'
        "Status: Created new release v1 for acme\n"
        "Status: Finished processing events for release v1 of acme\n"
        "Status: Release v1 of acme succeeded\n",
        "",
    )


def test_deploy_names_the_app_after_the_repository(emp: Emp) -> None:
    code, out, err = emp("deploy", "remind101/acme-inc:latest", "-m", "first")
    assert (code, err) == (0, "")
    assert "Status: Created new release v1 for acme-inc\n" in out
    assert emp("releases", "-a", "acme-inc").out == (
        "v1  alice  Nov 26 10:00  Deploy remind101/acme-inc:latest (alice: 'first')\n"
    )


def test_deploy_stream_shows_the_scheduler_status(acme: Emp) -> None:
    code, out, _ = acme("deploy", "-s", "remind101/acme-inc:v2")
    assert code == 0
    assert "Status: web: 1 instances running\n" in out


def test_deploy_cmd_image_generates_a_procfile(emp: Emp, stack: Stack) -> None:
    stack.images.add("remind101/legacy:v1", cmd=["./server", "--port", "80"], no_digest=True)
    code, out, _ = emp("deploy", "remind101/legacy:v1")
    assert code == 0
    assert "Status: Image has no repository digests. Using sha256:" in out
    assert "Status: Generating Procfile from CMD: ['./server', '--port', '80']\n" in out


def test_deploy_rolled_back_exits_non_zero_and_says_why(acme: Emp, stack: Stack) -> None:
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web never became healthy"))
    code, out, err = acme("deploy", "remind101/acme-inc:v2")
    assert code == 1
    assert out.endswith("Status: Finished processing events for release v2 of acme\n")
    assert err == "error: release v2 of acme was rolled back: web never became healthy\n"


def test_deploy_errors(emp: Emp, stack: Stack) -> None:
    assert emp("deploy") == (1, "", "error: You must specify an image to deploy\n")
    assert emp("deploy", "-a", "nope", "remind101/acme-inc:v1") == (
        1,
        "",
        "error: Couldn't find that app: no app named nope\n",
    )
    stack.images.accept_any = False
    code, out, err = emp("deploy", "remind101/missing:v1")
    assert (code, out) == (1, "")
    assert err.startswith("error: image remind101/missing:v1 not found")
    code, out, err = emp("deploy", "Not An Image")
    assert (code, out) == (1, "")
    assert err.startswith("error: ")


def test_renderer_plain_lines_skip_progress_bars() -> None:
    out = io.StringIO()
    Renderer(out, terminal=False).render(
        [
            {"status": "Pulling from acme", "id": "latest"},
            {"status": "Downloading", "id": "abc", "progressDetail": {"current": 5, "total": 10}},
            {"status": "Pull complete", "id": "abc", "progressDetail": {}},
            {"stream": "raw text\n"},
            {"status": "Status: done"},
        ]
    )
    assert out.getvalue() == (
        "latest: Pulling from acme\nabc: Pull complete\nraw text\nStatus: done\n"
    )


def test_renderer_updates_progress_lines_on_a_terminal() -> None:
    out = io.StringIO()
    Renderer(out, terminal=True).render(
        [
            {"status": "Downloading", "id": "a", "progressDetail": {"current": 0, "total": 100}},
            {"status": "Waiting", "id": "b", "progressDetail": {}},
            {"status": "Downloading", "id": "a", "progressDetail": {"current": 50, "total": 100}},
            {"status": "Status: done"},
        ]
    )
    bar = "[" + "=" * 25 + ">" + " " * 24 + "] 50B/100B"
    assert out.getvalue() == (
        "a: Downloading [>" + " " * 49 + "] 0B/100B\n"
        "b: Waiting\n"
        "\x1b[2A\x1b[2K\ra: Downloading " + bar + "\x1b[2B\r"
        "Status: done\n"
    )
