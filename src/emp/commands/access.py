"""Per-app roles: access, access-add, access-remove (teams: `emp.commands.teams`).

The calls live here rather than in HerokuClient: they are Empire extensions (the heroku CLI
knows only GET /apps/{app}/collaborators), made with the client's generic list/get/send.
"""

from __future__ import annotations

from emp.client import HerokuClient, segment
from emp.output import go_quote
from emp.registry import check_args, command
from emp.session import Session, UsageFail
from emp.transport import JSON, obj

ROLES = ("viewer", "deployer", "admin")
TEAM_PREFIX = "team:"


# -- the API calls ------------------------------------------------------------------------


def collaborators(client: HerokuClient, app: str) -> list[JSON]:
    """List who has a role on an app: users and teams."""
    return client.list(f"/apps/{segment(app)}/collaborators", "name ..; max=1000")


def grant(
    client: HerokuClient, app: str, kind: str, name: str, role: str, message: str | None
) -> JSON:
    """Give a user or a team a role on an app (replacing the role it had)."""
    path = f"/apps/{segment(app)}/collaborators"
    return obj(client.send("POST", path, {kind: name, "role": role}, message))


def revoke(client: HerokuClient, app: str, subject: str, message: str | None) -> None:
    """Take away a user's or a team's (`team:NAME`) role on an app."""
    client.send("DELETE", f"/apps/{segment(app)}/collaborators/{segment(subject)}", None, message)


# -- access -------------------------------------------------------------------------------


@command(
    "access",
    "list who has access to an app",
    """
Lists the users and teams that have a role on an app, sorted by name.
A role is viewer (read the app), deployer (also deploy, scale, set config,
run) or admin (also manage the app's access). Empire admins can do
everything without a role.

Example:

    $ emp access -a acme-inc
    bob    user  deployer
    carol  user  admin
    ops    team  viewer
""",
    app="needs",
    json=True,
    extra=True,
)
def access(s: Session, args: tuple[str, ...]) -> None:
    """List an app's collaborators."""
    check_args(args, 0, 0)
    items = collaborators(s.client, s.app())
    rows = sorted(_row(item) for item in items)
    if s.json:
        s.print_json(sorted(items, key=_row))
        return
    if rows:
        s.table(rows)


def _row(item: JSON) -> list[str]:
    team = item.get("team")
    if isinstance(team, dict):
        return [str(team.get("name") or ""), "team", str(item.get("role") or "")]
    user = item.get("user")
    user = user if isinstance(user, dict) else {}
    name = str(user.get("name") or user.get("email") or "")
    return [name, "user", str(item.get("role") or "")]


@command(
    "access-add <user or team:name> <role>",
    "give a user or team a role on an app",
    """
Gives a user, or a team (written team:NAME), a role on an app: viewer,
deployer or admin. If it already has a role, the new one replaces it.
Only Empire admins and the app's admins can change its access.

Examples:

    $ emp access-add bob deployer -a acme-inc
    Granted deployer on acme-inc to bob.

    $ emp access-add team:ops viewer -a acme-inc
    Granted viewer on acme-inc to team ops.
""",
    app="needs",
    message=True,
    extra=True,
)
def access_add(s: Session, args: tuple[str, ...]) -> None:
    """Grant a role on an app."""
    app = s.app()
    check_args(args, 2, 2)
    kind, name = _subject(args[0])
    role = args[1].lower()
    if role not in ROLES:
        raise UsageFail(f"unknown role {go_quote(args[1])}: use viewer, deployer or admin")
    s.write(lambda message: grant(s.client, app, kind, name, role, message))
    s.err(f"Granted {role} on {app} to {_who(kind, name)}.")


@command(
    "access-remove <user or team:name>",
    "take away a user's or team's role on an app",
    """
Takes away a user's, or a team's (written team:NAME), role on an app.

Examples:

    $ emp access-remove bob -a acme-inc
    Removed bob's access to acme-inc.

    $ emp access-remove team:ops -a acme-inc
    Removed team ops's access to acme-inc.
""",
    app="needs",
    message=True,
    extra=True,
)
def access_remove(s: Session, args: tuple[str, ...]) -> None:
    """Revoke a role on an app."""
    app = s.app()
    check_args(args, 1, 1)
    kind, name = _subject(args[0])
    subject = TEAM_PREFIX + name if kind == "team" else name
    s.write(lambda message: revoke(s.client, app, subject, message))
    s.err(f"Removed {_who(kind, name)}'s access to {app}.")


def _subject(text: str) -> tuple[str, str]:
    """Split `bob` into ("user", "bob") and `team:ops` into ("team", "ops")."""
    if text.startswith(TEAM_PREFIX):
        name = text[len(TEAM_PREFIX) :]
        if not name:
            raise UsageFail("no team name given: write team:NAME")
        return "team", name
    if not text:
        raise UsageFail("no user name given")
    return "user", text


def _who(kind: str, name: str) -> str:
    return f"team {name}" if kind == "team" else name
