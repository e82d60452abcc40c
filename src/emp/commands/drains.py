"""Log drains: drains, drains-add, drains-remove."""

from __future__ import annotations

from emp.output import table
from emp.registry import check_args, command
from emp.session import Session


@command(
    "drains",
    "list log drains",
    """
Lists an app's log drains: where its log lines (process output, platform
and router lines) are forwarded, with each drain's token.

Examples:

    $ emp drains -a myapp
    syslog+tls://logs.example.com:6514  d.0f3c2b5e-8c1d-4b0e-9d7a-2f9b6c1e4a11
    https://logs.example.com/ingest     d.7a1e9c3d-5b2f-4e8a-b6d0-1c4f8e2a9b37
""",
    app="needs",
    json=True,
)
def drains(s: Session, args: tuple[str, ...]) -> None:
    """List an app's log drains."""
    check_args(args, 0, 0)
    items = s.client.drains(s.app())
    if s.json:
        s.print_json(items)
        return
    rows = [[str(d.get("url") or ""), str(d.get("token") or "")] for d in items]
    if rows:
        s.out(table(rows).rstrip("\n"))


@command(
    "drains-add <url>",
    "add a log drain",
    """
Adds a log drain: the app's log lines are forwarded to it from now on.
URLs: syslog://host:port and syslog+tls://host:port (RFC 5424 over TCP,
octet-counted), https://host/path (batched POSTs, as Heroku's drains).
An app has at most 5 drains.

Example:

    $ emp drains-add syslog+tls://logs.example.com:6514 -a myapp
    Added log drain syslog+tls://logs.example.com:6514 to myapp (d.0f3c2b5e-...).
""",
    app="needs",
    message=True,
)
def drains_add(s: Session, args: tuple[str, ...]) -> None:
    """Add a log drain."""
    name = s.app()
    check_args(args, 1, 1)
    drain = s.write(lambda message: s.client.add_drain(name, args[0], message))
    token = drain.get("token")
    s.err(f"Added log drain {args[0]} to {name}" + (f" ({token})." if token else "."))


@command(
    "drains-remove <url or token>",
    "remove a log drain",
    """
Removes a log drain, given by its URL or its token.

Example:

    $ emp drains-remove syslog+tls://logs.example.com:6514 -a myapp
    Removed log drain syslog+tls://logs.example.com:6514 from myapp.
""",
    app="needs",
    message=True,
)
def drains_remove(s: Session, args: tuple[str, ...]) -> None:
    """Remove a log drain."""
    name = s.app()
    check_args(args, 1, 1)
    s.write(lambda message: s.client.remove_drain(name, args[0], message))
    s.err(f"Removed log drain {args[0]} from {name}.")
