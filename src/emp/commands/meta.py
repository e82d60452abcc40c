"""About emp itself and raw access: version, help, which-app, url, api."""

from __future__ import annotations

import json

from emp import __version__, help
from emp.registry import check_args, command
from emp.session import Exit, Fail, Session

BODY_METHODS = ("POST", "PUT", "PATCH")


@command("version", "show emp version", "Version shows the emp client version string.")
def version(s: Session, args: tuple[str, ...]) -> None:
    """Print the version."""
    s.out(__version__)


@command("help [<topic>]", "", "Help shows usage for a command or other topic.")
def help_(s: Session, args: tuple[str, ...]) -> None:
    """Print the usage, or a command's or topic's help."""
    if not args:
        s.out(help.usage(), end="")
        return
    if len(args) > 1:
        raise Fail("too many arguments")
    text = help.topic(args[0])
    if text is None:
        s.err(f"Unknown help topic: {json.dumps(args[0])}. Run 'emp help'.")
        raise Exit(2)
    s.out(text, end="")


@command(
    "which-app",
    "show which app is selected",
    "Which-app shows the app emp uses: -a, else EMPAPP.",
    app="optional",
    extra=True,
)
def which_app(s: Session, args: tuple[str, ...]) -> None:
    """Print the selected app."""
    check_args(args, 0, 0)
    s.out(s.app())


@command("url", "show app url", "Url shows the app's web URL.", app="needs", extra=True)
def url(s: Session, args: tuple[str, ...]) -> None:
    """Print the app's web URL."""
    check_args(args, 0, 0)
    s.out(str(s.client.app(s.app()).get("web_url") or ""))


@command(
    "api <method> <path>",
    "make a single API request",
    """
The api command is a convenient but low-level way to send requests
to the Empire API. It sends an HTTP request to the API using the
given method and path; for POST, PUT and PATCH the body is read from
standard input. The response body is printed on standard output.

Examples:

    $ emp api GET /apps/myapp
    $ echo '{"maintenance": true}' | emp api PATCH /apps/myapp
""",
    message=True,
    extra=True,
)
def api(s: Session, args: tuple[str, ...]) -> None:
    """Send a raw request and print the answer."""
    check_args(args, 2, 2)
    method, path = args[0].upper(), args[1]
    body = None
    if method in BODY_METHODS:
        text = s.io.stdin.read().strip()
        try:
            body = json.loads(text) if text else None
        except ValueError as exc:
            raise Fail(f"the request body on stdin is not JSON: {exc}") from exc
    response = s.client.request(method, "/" + path.lstrip("/"), body=body, message=s.message)
    s.out(response.text.rstrip("\n"))
