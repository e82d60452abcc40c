"""The audit trail: audit."""

from __future__ import annotations

from emp.output import parse_time, pretty_time
from emp.registry import check_args, command, option
from emp.session import Session


@command(
    "audit",
    "show who changed an app, and how",
    """
Lists the app's audit trail, oldest first: every change (deploys, config,
scaling, domains, restarts, runs...), who made it and the commit message.

Options:

    -n <count>  how many of the newest events to show (default 20)

Example:

    $ emp audit -a acme-inc
    Nov 26 10:00  alice created acme-inc
    Nov 26 10:01  alice changed environment variables on acme-inc (FOO): 'new flag'
""",
    app="needs",
    json=True,
    options=[option("-n", "--number", type=int, default=20)],
)
def audit(s: Session, args: tuple[str, ...], number: int) -> None:
    """List an app's events."""
    check_args(args, 0, 0)
    items = list(reversed(s.client.audit(s.app(), max(number, 1))))
    if s.json:
        s.print_json(items)
        return
    now = s.io.now()
    for event in items:
        when = parse_time(str(event.get("created_at") or "") or None)
        stamp = pretty_time(when, now) if when else ""
        s.out(f"{stamp}  {event.get('description') or ''}")
