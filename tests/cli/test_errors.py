"""Transcripts of the error paths every command shares: no app, unknown app, server down,
unauthorized (see test_auth), message required, usage errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from emp.cli import main
from emp.registry import find
from emp.session import Io
from support.services import free_port
from support.stack import Stack

from .conftest import Emp

NO_APP = "error: no app specified: use -a APP or set EMPAPP\n"
NEEDS_APP = [
    ("ps",),
    ("releases",),
    ("release-info", "v1"),
    ("rollback", "v1"),
    ("scale", "web=1"),
    ("restart",),
    ("env-load", "-"),
    ("set", "A=1"),
    ("unset", "A"),
    ("env",),
    ("get", "A"),
    ("run", "-d", "x"),
    ("log",),
    ("info",),
    ("domains",),
    ("domain-add", "x.example.com"),
    ("domain-remove", "x.example.com"),
    ("cert-attach", "x"),
    ("maintenance",),
    ("maintenance-enable",),
    ("maintenance-disable",),
    ("url",),
    ("which-app",),
]
UNKNOWN_APP = [
    *((c[0], "-a", "nope", *c[1:]) for c in NEEDS_APP if c[0] != "which-app"),
    ("deploy", "-a", "nope", "remind101/acme-inc:v1"),
    ("destroy", "nope", "--confirm", "nope"),
    ("rename", "nope", "other"),
    ("apps", "nope"),
]


@pytest.mark.parametrize("args", NEEDS_APP, ids=lambda a: a[0])
def test_no_app_specified(emp: Emp, args: tuple[str, ...]) -> None:
    cmd = find(args[0])
    assert cmd is not None
    assert emp(*args, stdin="A=1\n") == (
        2,
        "",
        NO_APP
        + f"Usage: emp {cmd.full_usage()}\nUse 'emp help {cmd.name}' for more information.\n",
    )


@pytest.mark.parametrize("args", UNKNOWN_APP, ids=lambda a: a[0])
def test_unknown_app(emp: Emp, args: tuple[str, ...]) -> None:
    assert emp(*args, stdin="A=1\n") == (
        1,
        "",
        "error: Couldn't find that app: no app named nope\n",
    )


@pytest.mark.parametrize("args", [("apps",), ("info", "-a", "acme"), ("deploy", "acme/x:1")])
def test_server_down(emp: Emp, args: tuple[str, ...]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    emp.factory = None  # type: ignore[assignment]  # None: the real httpx client
    assert emp(*args, env={"EMPIRE_API_URL": url}) == (
        1,
        "",
        f"error: cannot reach Empire at {url}: connection refused\n",
    )


@pytest.fixture
def strict(messages_stack: Stack, tmp_path: Path) -> Emp:
    """An `emp` runner against a server that requires commit messages."""
    return Emp(messages_stack, tmp_path)


REQUIRED = "error: A message is required for this action, please run again with '-m'.\n"


def test_message_required_in_a_script(strict: Emp) -> None:
    assert strict("create", "acme") == (1, "", REQUIRED)
    assert strict("create", "acme", "-m", "new app") == (0, "", "Created acme.\n")
    assert strict("deploy", "-a", "acme", "remind101/acme-inc:v1") == (1, "", REQUIRED)
    assert strict("set", "-a", "acme", "A=1") == (1, "", REQUIRED)
    assert strict("destroy", "acme", stdin="acme\n") == (1, "", REQUIRED)


def test_message_required_prompts_on_a_terminal(strict: Emp) -> None:
    assert strict("create", "acme", stdin="because\n", tty=True) == (
        0,
        "A commit message is required, enter one below:\n> ",
        "Created acme.\n",
    )
    event = strict.stack.events.events[-1]
    assert (event.kind, event.message) == ("create", "because")
    assert strict("set", "-a", "acme", "A=1", stdin="\n", tty=True) == (
        1,
        "A commit message is required, enter one below:\n> ",
        REQUIRED,
    )


def test_message_is_sent_as_commit_message(strict: Emp) -> None:
    strict("create", "acme", "--message", "ticket #42")
    assert strict.requests[-1].headers["commit-message"] == "ticket #42"
    assert strict.stack.events.events[-1].message == "ticket #42"


def test_destroy_asks_confirmation_then_message(strict: Emp) -> None:
    strict("create", "acme", "-m", "x")
    assert strict("destroy", "acme", stdin="acme\nbye\n", tty=True) == (
        0,
        "> A commit message is required, enter one below:\n> ",
        'warning: This will destroy acme and its add-ons. Please type "acme" to continue:\n'
        "Destroyed acme.\n",
    )


def test_unknown_flag_and_missing_value(emp: Emp) -> None:
    usage = "Usage: emp apps [<name>...]\nUse 'emp help apps' for more information.\n"
    assert emp("apps", "--bogus") == (2, "", "error: unknown flag: --bogus\n" + usage)
    code, out, err = emp("info", "-a")
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and "-a" in err


def test_colour_only_on_a_terminal(emp: Emp) -> None:
    out, err = io.StringIO(), io.StringIO()
    streams = Io(stdin=io.StringIO(), stdout=out, stderr=err, stdout_tty=True, environ=emp.env)
    assert main(["get"], io=streams) == 2
    assert err.getvalue().startswith(
        "\x1b[1;31merror:\x1b[0m \x1b[31mno app specified: use -a APP or set EMPAPP\x1b[0m\n"
    )
    assert "\x1b[" not in emp("get").err


def test_extra_headers_from_hkheader(acme: Emp) -> None:
    acme("apps", env={"HKHEADER": "X-Trace: abc\nbroken line\nX-Other:  2 "})
    assert acme.requests[-1].headers["x-trace"] == "abc"
    assert acme.requests[-1].headers["x-other"] == "2"
