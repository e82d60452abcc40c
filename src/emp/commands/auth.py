"""Credentials: login, logout, creds."""

from __future__ import annotations

import getpass
from datetime import timedelta

from emp.client import ApiError
from emp.credentials import Creds, machine_of
from emp.output import parse_time, pretty_time
from emp.registry import check_args, command
from emp.session import Fail, Session


@command(
    "login",
    "log in to Empire",
    """
Log in with your Empire username and password. The API token the
server gives back is saved in your netrc file (NETRC_PATH, default
~/.netrc) for the API's host and port, with mode 0600. Input is read
from the terminal; on a pipe, the username and then the password are
read from standard input.

Example:

    $ emp login
    Enter username: bob
    Enter password:
    Logged in.
""",
    extra=True,
)
def login(s: Session, args: tuple[str, ...]) -> None:
    """Exchange a username and password for a token saved in netrc."""
    check_args(args, 0, 0)
    machine = machine_of(s.api_url)
    old = s.netrc().get(machine)
    prompt = f"Enter username [{old.login}]: " if old and old.login else "Enter username: "
    user = (s.read_line(prompt) or "").strip() or (old.login if old else "")
    if not user:
        raise Fail("username is required.")
    password = _password(s)
    if not password:
        raise Fail("password is required.")
    try:
        token = s.client.authorize(user, password)
    except ApiError as exc:
        if exc.id != "two_factor":
            raise
        code = (s.read_line("Enter two-factor auth code: ") or "").strip()
        token = s.client.authorize(user, password, code)
    s.netrc().save(machine, Creds(user, token))
    s.out("Logged in.")


def _password(s: Session) -> str:
    if not s.io.stdin_tty:
        return (s.read_line() or "").strip()
    return getpass.getpass("Enter password: ", stream=s.io.stderr)


@command(
    "logout",
    "log out of Empire",
    """
Log out: remove the credentials for the API's host and port from
your netrc file.

Example:

    $ emp logout
    Logged out.
""",
    extra=True,
)
def logout(s: Session, args: tuple[str, ...]) -> None:
    """Remove this API's entry from netrc."""
    check_args(args, 0, 0)
    s.netrc().remove(machine_of(s.api_url))
    s.out("Logged out.")


@command("creds", "show credentials", "Creds shows the credentials used for API calls.", extra=True)
def creds(s: Session, args: tuple[str, ...]) -> None:
    """Print the login and token in use."""
    check_args(args, 0, 0)
    found = s.creds()
    if found is None:
        raise Fail(f"no credentials for {machine_of(s.api_url)}: log in with `emp login`")
    s.out(f"{found.login} {found.password}")


@command(
    "tokens",
    "list your API tokens",
    """
Lists your API tokens: id, when each was made, when it expires and what
it is for. Their secrets are never stored, so they cannot be shown.

Example:

    $ emp tokens
    5b63bc8c-4949-4c29-a7ff-bad7b9ff8efb  Nov 26 10:00  Dec 26 10:00  emp login
""",
    json=True,
)
def tokens(s: Session, args: tuple[str, ...]) -> None:
    """List the caller's tokens."""
    check_args(args, 0, 0)
    items = s.client.tokens()
    if s.json:
        s.print_json(items)
        return
    now = s.io.now()
    rows = []
    for token in items:
        created = parse_time(str(token.get("created_at") or "") or None)
        seconds = (token.get("access_token") or {}).get("expires_in")
        expires = now + timedelta(seconds=seconds) if isinstance(seconds, int) else None
        rows.append(
            [
                str(token.get("id") or ""),
                pretty_time(created, now) if created else "",
                pretty_time(expires, now) if expires else "never",
                str(token.get("description") or ""),
            ]
        )
    s.table(rows)


@command(
    "tokens-revoke <id>",
    "revoke one of your API tokens",
    """
Revokes one of your API tokens (see emp tokens): it stops working at once.

Example:

    $ emp tokens-revoke 5b63bc8c-4949-4c29-a7ff-bad7b9ff8efb
    Revoked token 5b63bc8c-4949-4c29-a7ff-bad7b9ff8efb.
""",
)
def tokens_revoke(s: Session, args: tuple[str, ...]) -> None:
    """Revoke a token."""
    check_args(args, 1, 1)
    s.client.revoke_token(args[0])
    s.err(f"Revoked token {args[0]}.")
