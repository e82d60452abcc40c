"""Teams, whose members share the roles granted to the team: teams, teams-create,
teams-destroy, team-members, team-members-add, team-members-remove.

Empire extensions (global admins change teams; members may look), made with the client's
generic list/get/send.
"""

from __future__ import annotations

from emp.client import HerokuClient, segment
from emp.output import go_quote
from emp.registry import check_args, command, option
from emp.session import Session
from emp.transport import JSON


def teams_of(client: HerokuClient) -> list[JSON]:
    """List every team."""
    return client.list("/teams", "name ..; max=1000")


def members(client: HerokuClient, team: str) -> list[JSON]:
    """List a team's members."""
    return client.list(f"/teams/{segment(team)}/members", "name ..; max=1000")


# -- commands --------------------------------------------------------------------------------


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
    s.write(lambda message: s.client.send("DELETE", f"/teams/{segment(name)}", None, message))
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
        s.table(rows)


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
    path = f"/teams/{segment(team)}/members"
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
    path = f"/teams/{segment(team)}/members/{segment(user)}"
    s.write(lambda message: s.client.send("DELETE", path, None, message))
    s.err(f"Removed {user} from team {team}.")
