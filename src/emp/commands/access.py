"""Per-app roles and teams: access, access-add, access-remove, teams, teams-create,
teams-destroy, team-members, team-members-add, team-members-remove.

The calls live here rather than in HerokuClient: they are Empire extensions (the heroku CLI
knows only GET /apps/{app}/collaborators), made with the client's generic list/get/send.
"""

from __future__ import annotations

from urllib.parse import quote

from emp.client import HerokuClient
from emp.output import go_quote, table
from emp.registry import check_args, command, option
from emp.session import Session, UsageFail
from emp.transport import JSON, obj

ROLES = ("viewer", "deployer", "admin")
TEAM_PREFIX = "team:"


# -- the API calls ------------------------------------------------------------------------


def collaborators(client: HerokuClient, app: str) -> list[JSON]:
    """List who has a role on an app: users and teams."""
    return client.list(f"/apps/{_seg(app)}/collaborators", "name ..; max=1000")


def grant(
    client: HerokuClient, app: str, kind: str, name: str, role: str, message: str | None
) -> JSON:
    """Give a user or a team a role on an app (replacing the role it had)."""
    path = f"/apps/{_seg(app)}/collaborators"
    return obj(client.send("POST", path, {kind: name, "role": role}, message))


def revoke(client: HerokuClient, app: str, subject: str, message: str | None) -> None:
    """Take away a user's or a team's (`team:NAME`) role on an app."""
    client.send("DELETE", f"/apps/{_seg(app)}/collaborators/{_seg(subject)}", None, message)


def teams_of(client: HerokuClient) -> list[JSON]:
    """List every team."""
    return client.list("/teams", "name ..; max=1000")


def members(client: HerokuClient, team: str) -> list[JSON]:
    """List a team's members."""
    return client.list(f"/teams/{_seg(team)}/members", "name ..; max=1000")


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
        s.out(table(rows), end="")


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


# -- teams --------------------------------------------------------------------------------


@command(
    "teams",
    "list teams",
    """
Lists teams, one name per line. Give a team a role on an app with
emp access-add team:NAME ROLE.

Example:

    $ emp teams
    ops
    web-devs
""",
    json=True,
    extra=True,
)
def teams(s: Session, args: tuple[str, ...]) -> None:
    """List teams."""
    check_args(args, 0, 0)
    items = sorted(teams_of(s.client), key=lambda t: str(t.get("name") or ""))
    if s.json:
        s.print_json(items)
        return
    for team in items:
        s.out(str(team.get("name") or ""))


@command(
    "teams-create <name>",
    "create a team",
    """
Creates a team. Only Empire admins can manage teams.

Example:

    $ emp teams-create ops
    Created team ops.
""",
    message=True,
    extra=True,
)
def teams_create(s: Session, args: tuple[str, ...]) -> None:
    """Create a team."""
    check_args(args, 1, 1)
    name = args[0]
    s.write(lambda message: s.client.send("POST", "/teams", {"name": name}, message))
    s.err(f"Created team {name}.")


@command(
    "teams-destroy <name>",
    "destroy a team",
    """
Destroys a team: its members lose the access the team gave them. The
command will prompt for confirmation, or accept confirmation via stdin
or --confirm.

Examples:

    $ emp teams-destroy ops
    warning: This will destroy team ops and the access it gives. Please type "ops" to continue:
    > ops
    Destroyed team ops.

    $ emp teams-destroy ops --confirm ops
    Destroyed team ops.
""",
    message=True,
    extra=True,
    options=[option("--confirm")],
)
def teams_destroy(s: Session, args: tuple[str, ...], confirm: str | None) -> None:
    """Destroy a team after confirmation."""
    check_args(args, 1, 1)
    name = args[0]
    warning = (
        f"This will destroy team {name} and the access it gives. "
        f"Please type {go_quote(name)} to continue:"
    )
    s.confirm(warning, name, confirm)
    s.write(lambda message: s.client.send("DELETE", f"/teams/{_seg(name)}", None, message))
    s.err(f"Destroyed team {name}.")


@command(
    "team-members <team>",
    "list a team's members",
    """
Lists a team's members: name and email, sorted by name.

Example:

    $ emp team-members ops
    bob    bob@example.com
    carol  carol@example.com
""",
    json=True,
    extra=True,
)
def team_members(s: Session, args: tuple[str, ...]) -> None:
    """List a team's members."""
    check_args(args, 1, 1)
    items = sorted(members(s.client, args[0]), key=lambda u: str(u.get("name") or ""))
    if s.json:
        s.print_json(items)
        return
    rows = [[str(u.get("name") or ""), str(u.get("email") or "")] for u in items]
    if rows:
        s.out(table(rows), end="")


@command(
    "team-members-add <team> <user>",
    "add a user to a team",
    """
Adds a user to a team; the user gets the roles the team has.

Example:

    $ emp team-members-add ops bob
    Added bob to team ops.
""",
    message=True,
    extra=True,
)
def team_members_add(s: Session, args: tuple[str, ...]) -> None:
    """Add a member to a team."""
    check_args(args, 2, 2)
    team, user = args
    path = f"/teams/{_seg(team)}/members"
    s.write(lambda message: s.client.send("PUT", path, {"user": user}, message))
    s.err(f"Added {user} to team {team}.")


@command(
    "team-members-remove <team> <user>",
    "remove a user from a team",
    """
Removes a user from a team; the user loses the roles the team gave.

Example:

    $ emp team-members-remove ops bob
    Removed bob from team ops.
""",
    message=True,
    extra=True,
)
def team_members_remove(s: Session, args: tuple[str, ...]) -> None:
    """Remove a member from a team."""
    check_args(args, 2, 2)
    team, user = args
    path = f"/teams/{_seg(team)}/members/{_seg(user)}"
    s.write(lambda message: s.client.send("DELETE", path, None, message))
    s.err(f"Removed {user} from team {team}.")


def _seg(value: str) -> str:
    return quote(value, safe="")
