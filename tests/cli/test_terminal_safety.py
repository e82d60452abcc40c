"""Text a server sends never drives the user's terminal (issue 13 item 14).

On a terminal, emp shows the control characters of server-sent text escaped (`\\x1b`):
commit messages, config values, log lines, descriptions, errors, deploy statuses. Piped,
every byte goes out unchanged: scripts rely on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from support.stack import Stack

from .conftest import Emp

CLEAR = "\x1b[2J"  # erase the screen
TITLE = "\x1b]0;pwned\x07"  # retitle the window
CSI = "\x9b"  # the C1 form of ESC [
EVIL = f"a{CLEAR}b{TITLE}c{CSI}d\x7fe"
SHOWN = "a\\x1b[2Jb\\x1b]0;pwned\\x07c\\x9bd\\x7fe"


def _hostile(routes: dict[str, httpx.Response]) -> Callable[[str], httpx.Client]:
    """A server that answers each path with a crafted response."""

    def serve(request: httpx.Request) -> httpx.Response:
        return routes[request.url.path]

    return lambda url: httpx.Client(base_url=url, transport=httpx.MockTransport(serve))


def test_config_values_are_escaped_on_a_terminal_and_raw_when_piped(acme: Emp) -> None:
    assert acme("set", f"EVIL={EVIL}").code == 0
    assert acme("env", terminal=True) == (0, f"EVIL={SHOWN}\n", "")
    assert acme("get", "EVIL", terminal=True) == (0, f"{SHOWN}\n", "")
    assert acme("env") == (0, f"EVIL={EVIL}\n", "")
    assert acme("get", "EVIL") == (0, f"{EVIL}\n", "")
    dotenv = 'EVIL="a\\x1b[2Jb\\x1b]0;pwned\\ac\\u009bd\\x7fe"\n'  # Go's %q
    assert acme("env", "--dotenv", terminal=True) == (0, dotenv, "")
    assert acme("env", "--dotenv") == (0, dotenv, "")


def test_multi_line_values_keep_their_lines_on_a_terminal(acme: Emp) -> None:
    acme("set", "CERT=line 1\r\nline 2\n\tindented\rover")
    assert acme("get", "CERT", terminal=True).out == "line 1\r\nline 2\n\tindented\\x0dover\n"


def test_commit_messages_in_releases_and_audit(acme: Emp) -> None:
    acme("set", "-m", f"hi {CLEAR}there", "X=1")
    release = "v2  alice  Nov 26 10:00  Set X config var (alice: 'hi \\x1b[2Jthere')\n"
    assert acme("releases", terminal=True).out.endswith(release)
    assert acme("releases").out.endswith(release.replace("\\x1b", "\x1b"))
    event = "Nov 26 10:00  alice changed environment variables on acme (X): 'hi \\x1b[2Jthere'\n"
    assert acme("audit", terminal=True).out.endswith(event)
    assert acme("audit").out.endswith(event.replace("\\x1b", "\x1b"))


def test_log_lines_are_escaped_on_a_terminal_only(acme: Emp, stack: Stack) -> None:
    app_id = stack.empire.app("acme", by=stack.user).id
    stack.scheduler.lines[app_id] = [f"web.1 {CLEAR}red\x1b[31m!", "crlf\r", "a\rb"]
    stack.empire.applog.forget(app_id)  # the process lines only
    assert acme("log", terminal=True) == (
        0,
        "web.1 \\x1b[2Jred\\x1b[31m!\ncrlf\r\na\\x0db\n",
        "",
    )
    assert acme("log") == (0, f"web.1 {CLEAR}red\x1b[31m!\ncrlf\r\na\rb\n", "")


def test_error_messages_and_warnings_are_escaped_but_keep_emp_s_colour(acme: Emp) -> None:
    body = {"id": "not_found", "message": f"no app {CLEAR}here", "url": ""}
    headers = {"X-Heroku-Warning": f"slow{TITLE}down"}
    factory = _hostile({"/apps/acme": httpx.Response(404, json=body, headers=headers)})
    assert acme("info", terminal=True, factory=factory) == (
        1,
        "",
        "\x1b[1;33mwarning:\x1b[0m \x1b[33mslow\\x1b]0;pwned\\x07down\x1b[0m\n"  # emp's colours
        "\x1b[1;31merror:\x1b[0m \x1b[31mno app \\x1b[2Jhere\x1b[0m\n",
    )
    assert acme("info", factory=factory) == (
        1,
        "",
        f"warning: slow{TITLE}down\nerror: no app {CLEAR}here\n",
    )


def test_tables_escape_each_cell_before_aligning(emp: Emp) -> None:
    apps = [
        {"name": "acme", "certs": {"web": f"x{CLEAR}"}, "created_at": "2026-11-26T09:00:00Z"},
        {"name": "b\tc", "certs": {}, "created_at": "2026-11-26T09:00:00Z"},
    ]
    factory = _hostile({"/apps": httpx.Response(200, json=apps)})
    assert emp("apps", terminal=True, factory=factory).out == (
        "acme    web=x\\x1b[2J  Nov 26 09:00\nb\\x09c                Nov 26 09:00\n"
    )
    piped = f"acme  web=x{CLEAR}  Nov 26 09:00\nb     c            Nov 26 09:00\n"
    assert emp("apps", factory=factory).out == piped  # raw bytes: the tab splits the cell


def test_ps_commands_show_c1_controls_escaped(acme: Emp) -> None:
    dyno = {
        "name": "v1.web.1",
        "type": "web",
        "host": {"id": "h"},
        "size": "1X",
        "state": "up",
        "command": f"./web {CLEAR}{CSI}x",
        "updated_at": "2026-11-26T10:00:00Z",
    }
    factory = _hostile({"/apps/acme/dynos": httpx.Response(200, json=[dyno])})
    expected = 'v1.web.1  h  1X  up   0s  "./web \\u001b[2J\\u009bx"\n'
    assert acme("ps", factory=factory).out == expected
    assert acme("ps", factory=factory, terminal=True).out == expected


def test_json_output_escapes_del_and_c1_and_stays_the_same_value(acme: Emp) -> None:
    acme("set", f"EVIL={EVIL}")
    for terminal in (False, True):
        out = acme("env", "--json", terminal=terminal).out
        assert json.loads(out) == {"EVIL": EVIL}
        assert not any(c in out for c in (CLEAR[0], CSI, "\x7f", "\x07"))
        assert "\\u009b" in out and "\\u007f" in out


def test_deploy_statuses_are_escaped_and_emp_s_own_cursor_moves_kept(emp: Emp) -> None:
    lines = [
        {"status": f"Pulling {CLEAR}", "id": "layer", "progressDetail": {"current": 1}},
        {"status": "Downloading", "id": "layer", "progressDetail": {"current": 2}},
        {"status": f"Status: done{TITLE}\nfake line"},
        {"stream": f"{CSI}raw\n"},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    factory = _hostile({"/apps/acme/deploys": httpx.Response(200, text=body)})
    code, out, _ = emp("deploy", "-a", "acme", "acme:v1", terminal=True, factory=factory)
    assert code == 0
    assert out == (
        "layer: Pulling \\x1b[2J 1B\n"
        "\x1b[1A\x1b[2K\rlayer: Downloading 2B\x1b[1B\r"  # emp's own cursor moves
        "Status: done\\x1b]0;pwned\\x07\\x0afake line\n"
        "\\x9braw\n"
    )
    piped = emp("deploy", "-a", "acme", "acme:v1", factory=factory).out
    assert piped == f"Status: done{TITLE}\nfake line\n{CSI}raw\n"  # no progress lines
