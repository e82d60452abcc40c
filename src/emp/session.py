"""What a command runs with: its streams, environment, app, commit message and API client."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from emp.client import ApiError, HerokuClient
from emp.credentials import Creds, Netrc, machine_of, netrc_path
from emp.output import escape_cell, escape_controls, go_quote, paint, table, to_json

DEFAULT_API_URL = "http://127.0.0.1:8080"
MESSAGE_REQUIRED = "A message is required for this action, please run again with '-m'."
T = TypeVar("T")
ClientFactory = Callable[[str], httpx.Client]


class Fail(Exception):
    """End the command with `error: <message>` on stderr and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Exit(Exception):
    """End the command with an exit code, having printed everything already."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class UsageFail(Exception):
    """End the command with an optional error, the command's usage, and exit code 2."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "usage")
        self.message = message


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Io:
    """The process's streams, terminal flags, environment and clock (all replaceable in tests)."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_tty: bool | None = None
    stdout_tty: bool | None = None
    stderr_tty: bool | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    now: Callable[[], datetime] = _utcnow

    def __post_init__(self) -> None:
        if self.stdin_tty is None:
            self.stdin_tty = _isatty(self.stdin)
        if self.stdout_tty is None:
            self.stdout_tty = _isatty(self.stdout)
        if self.stderr_tty is None:
            self.stderr_tty = _isatty(self.stderr)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Session:
    """One command invocation."""

    def __init__(self, io: Io, client_factory: ClientFactory | None = None) -> None:
        self.io = io
        self.client_factory = client_factory
        self.app_flag: str | None = None
        self.message: str | None = None
        self.json = False
        self._client: HerokuClient | None = None
        self._http: httpx.Client | None = None

    # -- output -------------------------------------------------------------------------

    @property
    def colour(self) -> bool:
        """Tell whether to colour output (only when stdout is a terminal)."""
        return bool(self.io.stdout_tty)

    def out(self, text: str = "", end: str = "\n", *, raw: bool = False) -> None:
        """Write to stdout. On a terminal, control characters are shown escaped (`\\x1b`),
        so text a server sent cannot rewrite the screen; piped, text goes out unchanged.
        `raw` is for text emp composed itself (colours)."""
        if self.io.stdout_tty and not raw:
            text = escape_controls(text)
        self.io.stdout.write(text + end)
        self.io.stdout.flush()

    def err(self, text: str, *, raw: bool = False) -> None:
        """Write a line to stderr (confirmations such as `Created acme.`), escaped like
        `out` when stderr is a terminal."""
        if self.io.stderr_tty and not raw:
            text = escape_controls(text)
        self.io.stderr.write(text + "\n")
        self.io.stderr.flush()

    def table(self, rows: Sequence[Sequence[str]]) -> None:
        """Write rows aligned like Go's tabwriter; on a terminal each cell's control
        characters (tabs and newlines too) are escaped before the columns are measured."""
        if self.io.stdout_tty:
            rows = [[escape_cell(cell) for cell in row] for row in rows]
        self.out(table(rows), end="", raw=True)

    def warning(self, text: str) -> None:
        """Write `warning: <text>` to stderr."""
        if self.io.stderr_tty:
            text = escape_controls(text)
        prefix = paint("warning:", "yellow", bold=True, enabled=self.colour)
        self.err(f"{prefix} {paint(text, 'yellow', enabled=self.colour)}", raw=True)

    def print_json(self, value: object) -> None:
        """Write a value as JSON to stdout (its control characters are always escaped)."""
        self.out(to_json(value), raw=True)

    # -- input --------------------------------------------------------------------------

    def app(self) -> str:
        """Return the app from `-a/--app`, else `EMPAPP`, else fail with usage."""
        name = self.optional_app()
        if not name:
            raise UsageFail("no app specified: use -a APP or set EMPAPP")
        return name

    def optional_app(self) -> str | None:
        """Return the app from `-a/--app` or `EMPAPP`, if any."""
        return self.app_flag or self.io.environ.get("EMPAPP") or None

    def read_line(self, prompt: str = "") -> str | None:
        """Prompt on stdout (only on a terminal) and read one line; None at end of input."""
        if prompt and self.io.stdin_tty:
            self.out(prompt, end="")
        line = self.io.stdin.readline()
        return line.rstrip("\r\n") if line else None

    def confirm(self, warning: str, desired: str, given: str | None) -> None:
        """Require the user to type `desired` (or to have passed it as --confirm)."""
        if given is None:
            if self.io.stdin_tty:
                self.warning(warning)
            answer = self.read_line("> ")
            if answer is None:
                raise Fail(f"confirmation required: type {desired} or pass --confirm {desired}")
            given = answer.strip()
        if given != desired:
            raise Fail(f"Confirmation did not match {go_quote(desired)}.")

    def write(self, call: Callable[[str | None], T]) -> T:
        """Run a write with the commit message, asking for one if the server requires it."""
        try:
            return call(self.message)
        except ApiError as exc:
            if exc.id != "message_required" or self.message:
                raise
        if not self.io.stdin_tty:
            raise Fail(MESSAGE_REQUIRED)
        self.out("A commit message is required, enter one below:")
        self.message = (self.read_line("> ") or "").strip()
        if not self.message:
            raise Fail(MESSAGE_REQUIRED)
        return call(self.message)

    # -- the API ------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """Return `EMPIRE_API_URL` without credentials (default http://127.0.0.1:8080)."""
        return _strip_userinfo(self.io.environ.get("EMPIRE_API_URL") or DEFAULT_API_URL)

    def netrc(self) -> Netrc:
        """Return the netrc file of this environment."""
        return Netrc(netrc_path(self.io.environ))

    def creds(self) -> Creds | None:
        """Return the credentials: from the URL's user:password, else from netrc."""
        parts = urlsplit(self.io.environ.get("EMPIRE_API_URL") or DEFAULT_API_URL)
        if parts.password is not None or parts.username:
            return Creds(unquote(parts.username or ""), unquote(parts.password or ""))
        return self.netrc().get(machine_of(self.api_url))

    @property
    def client(self) -> HerokuClient:
        """Return the API client, built on first use."""
        if self._client is None:
            self._http = self._make_http()
            self._client = HerokuClient(
                self._http,
                url=self.api_url,
                creds=self.creds(),
                headers=_extra_headers(self.io.environ.get("HKHEADER", "")),
                warn=self.warning,
            )
        return self._client

    def _make_http(self) -> httpx.Client:
        if self.client_factory is not None:
            return self.client_factory(self.api_url)
        verify = self.io.environ.get("HEROKU_SSL_VERIFY") != "disable"
        timeout = httpx.Timeout(60.0, connect=10.0)
        return httpx.Client(base_url=self.api_url, timeout=timeout, verify=verify)

    def close(self) -> None:
        """Close the HTTP client, if one was made."""
        if self._http is not None:
            self._http.close()


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url.rstrip("/")
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host)).rstrip("/")


def _extra_headers(text: str) -> dict[str, str]:
    headers = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip()] = value.strip()
    return headers
