"""Transcripts: access, access-add, access-remove, teams, teams-create, teams-destroy,
team-members, team-members-add, team-members-remove."""

from __future__ import annotations

import json

import httpx

from support.stack import Stack

from .conftest import Emp

USAGE_ACCESS_ADD = (
    "Usage: emp access-add [-a <app or remote>] [-m <message>] <user or team:name> <role>\n"
    "Use 'emp help access-add' for more information.\n"
)


def as_user(stack: Stack, name: str) -> dict[str, str]:
    """Create a non-admin user; return the environment that runs `emp` as them."""
    _, token = stack.empire.create_user(name, email=f"{name}@example.com")
    return {"EMPIRE_API_URL": f"http://{name}:{token}@127.0.0.1:8080"}


NO_USER = (
    "error: Couldn't find that user: no user named {} (see `empire users list` on the server)\n"
)
NO_TEAM = "error: Couldn't find that team: no team named {}\n"


def test_access_add_list_and_remove(acme: Emp, stack: Stack) -> None:
    as_user(stack, "bob")
    as_user(stack, "carol")
    assert acme("teams-create", "ops") == (0, "", "Created team ops.\n")
    assert acme("access") == (0, "alice  user  admin\n", "")  # who created the app
    assert acme("access-add", "bob", "deployer") == (0, "", "Granted deployer on acme to bob.\n")
    assert acme("access-add", "team:ops", "viewer") == (
        0,
        "",
        "Granted viewer on acme to team ops.\n",
    )
    assert acme("access-add", "carol", "admin", "-m", "on call") == (
        0,
        "",
        "Granted admin on acme to carol.\n",
    )
    assert acme.requests[-1].headers["Commit-Message"] == "on call"
    assert acme("access") == (
        0,
        "alice  user  admin\nbob    user  deployer\ncarol  user  admin\nops    team  viewer\n",
        "",
    )
    code, out, err = acme("access", "--json")
    assert (code, err) == (0, "")
    listed = json.loads(out)
    assert [(c["team"] or c["user"])["name"] for c in listed] == ["alice", "bob", "carol", "ops"]
    assert [c["role"] for c in listed] == ["admin", "deployer", "admin", "viewer"]
    assert all(c["app"]["name"] == "acme" for c in listed)

    # access-add replaces a role; the role is case-insensitive
    assert acme("access-add", "bob", "Viewer") == (0, "", "Granted viewer on acme to bob.\n")
    assert acme("access").out.splitlines()[1] == "bob    user  viewer"

    assert acme("access-remove", "bob") == (0, "", "Removed bob's access to acme.\n")
    assert acme("access-remove", "team:ops", "-m", "reorg") == (
        0,
        "",
        "Removed team ops's access to acme.\n",
    )
    assert acme.requests[-1].url.raw_path == b"/apps/acme/collaborators/team%3Aops"
    assert acme("access") == (0, "alice  user  admin\ncarol  user  admin\n", "")


def test_access_add_usage_errors(acme: Emp) -> None:
    assert acme("access-add", "bob", "owner") == (
        2,
        "",
        'error: unknown role "owner": use viewer, deployer or admin\n' + USAGE_ACCESS_ADD,
    )
    assert acme("access-add", "bob") == (2, "", USAGE_ACCESS_ADD)
    assert acme("access-add", "team:", "viewer") == (
        2,
        "",
        "error: no team name given: write team:NAME\n" + USAGE_ACCESS_ADD,
    )
    assert acme("access-add", "bob", "viewer", env={"EMPAPP": ""}) == (
        2,
        "",
        "error: no app specified: use -a APP or set EMPAPP\n" + USAGE_ACCESS_ADD,
    )
    assert acme("access", "extra") == (
        2,
        "",
        "Usage: emp access [-a <app or remote>]\nUse 'emp help access' for more information.\n",
    )
    assert not [r for r in acme.requests if "collaborators" in r.url.path]


def test_access_errors_from_the_server(acme: Emp, stack: Stack) -> None:
    assert acme("access-add", "nobody", "viewer") == (1, "", NO_USER.format("nobody"))
    assert acme("access-add", "team:nope", "viewer") == (1, "", NO_TEAM.format("nope"))
    as_user(stack, "bob")
    assert acme("access-remove", "bob") == (
        1,
        "",
        "error: Couldn't find that collaborator: bob has no access to acme "
        "(see emp access -a acme)\n",
    )
    assert acme("access", "-a", "nope") == (
        1,
        "",
        "error: Couldn't find that app: no app named nope\n",
    )


def test_a_forbidden_change_is_an_error(acme: Emp, stack: Stack) -> None:
    bob = as_user(stack, "bob")
    as_user(stack, "carol")
    acme("access-add", "bob", "deployer")
    answers: list[httpx.Response] = []

    def recording(url: str) -> httpx.Client:
        client = acme.test_client(url)
        client.event_hooks["response"] = [answers.append]
        return client

    assert acme("access-add", "carol", "viewer", env=bob, factory=recording) == (
        1,
        "",
        "error: bob is a deployer of acme: changing access needs the admin role "
        "(an admin of acme can grant it: emp access-add bob admin -a acme)\n",
    )
    [answer] = answers
    answer.read()
    assert (answer.status_code, answer.json()["id"]) == (403, "forbidden")
    assert acme("access-remove", "alice", env=bob)[0] == 1
    assert acme("access") == (0, "alice  user  admin\nbob    user  deployer\n", "")
    # bob may see who has access to the app he deploys, but not manage teams
    assert acme("access", env=bob) == (0, "alice  user  admin\nbob    user  deployer\n", "")
    assert acme("teams-create", "ops", env=bob) == (
        1,
        "",
        "error: bob is not a global admin: creating a team needs one "
        "(ask a global admin, or run `empire teams` on the server)\n",
    )
    assert acme("teams") == (0, "", "")
    # an app bob has no role on answers as an unknown app does
    acme("create", "secret")
    assert acme("access", "-a", "secret", env=bob) == (
        1,
        "",
        "error: Couldn't find that app: no app named secret\n",
    )


def test_the_last_admin_stays(acme: Emp, stack: Stack) -> None:
    carol = as_user(stack, "carol")
    acme("access-add", "carol", "admin")
    acme("access-remove", "alice")
    assert acme("access-remove", "carol", env=carol) == (
        1,
        "",
        "error: carol is the last admin of acme: make someone else an admin first "
        "(emp access-add USER admin -a acme), or ask a global admin\n",
    )
    assert acme("access", env=carol) == (0, "carol  user  admin\n", "")


def test_a_team_gives_its_members_access(acme: Emp, stack: Stack) -> None:
    bob = as_user(stack, "bob")
    no_app = (1, "", "error: Couldn't find that app: no app named acme\n")
    assert acme("info", env=bob) == no_app
    acme("teams-create", "ops")
    acme("team-members-add", "ops", "bob")
    acme("access-add", "team:ops", "viewer")
    assert acme("info", env=bob).out.startswith("Name: acme\n")
    assert acme("teams", env=bob) == (0, "ops\n", "")  # the teams bob is in
    assert acme("team-members", "ops", env=bob) == (0, "bob  bob@example.com\n", "")
    acme("team-members-remove", "ops", "bob")
    assert acme("info", env=bob) == no_app


def test_teams(emp: Emp, stack: Stack) -> None:
    as_user(stack, "bob")
    as_user(stack, "carol")
    assert emp("teams") == (0, "", "")
    assert emp("teams-create", "web") == (0, "", "Created team web.\n")
    assert emp("teams-create", "ops", "-m", "pager") == (0, "", "Created team ops.\n")
    assert emp.requests[-1].headers["Commit-Message"] == "pager"
    assert emp("teams") == (0, "ops\nweb\n", "")
    code, out, _ = emp("teams", "--json")
    assert code == 0 and [t["name"] for t in json.loads(out)] == ["ops", "web"]

    assert emp("team-members", "ops") == (0, "", "")
    assert emp("team-members-add", "ops", "carol") == (0, "", "Added carol to team ops.\n")
    assert emp("team-members-add", "ops", "bob", "-m", "new hire") == (
        0,
        "",
        "Added bob to team ops.\n",
    )
    assert emp("team-members", "ops") == (
        0,
        "bob    bob@example.com\ncarol  carol@example.com\n",
        "",
    )
    code, out, _ = emp("team-members", "ops", "--json")
    assert code == 0 and [u["name"] for u in json.loads(out)] == ["bob", "carol"]
    assert emp("team-members-remove", "ops", "carol") == (
        0,
        "",
        "Removed carol from team ops.\n",
    )
    assert emp("team-members", "ops") == (0, "bob  bob@example.com\n", "")


def test_team_errors(emp: Emp) -> None:
    emp("teams-create", "ops")
    assert emp("teams-create", "ops") == (1, "", "error: team ops already exists\n")
    assert emp("teams-create", "Ops_Team") == (
        1,
        "",
        "error: invalid team name 'Ops_Team': use 2 to 64 characters, lowercase letters, "
        "digits and dashes, starting with a letter (e.g. ops)\n",
    )
    assert emp("team-members", "nope") == (1, "", NO_TEAM.format("nope"))
    assert emp("team-members-add", "ops", "nobody") == (1, "", NO_USER.format("nobody"))
    assert emp("team-members-add", "nope", "alice") == (1, "", NO_TEAM.format("nope"))
    assert emp("team-members-remove", "ops", "alice") == (
        1,
        "",
        "error: Couldn't find that member: alice is not a member of team ops\n",
    )
    assert emp("team-members-add", "ops") == (
        2,
        "",
        "Usage: emp team-members-add [-m <message>] <team> <user>\n"
        "Use 'emp help team-members-add' for more information.\n",
    )
    assert emp("teams-create") == (
        2,
        "",
        "Usage: emp teams-create [-m <message>] <name>\n"
        "Use 'emp help teams-create' for more information.\n",
    )


def test_teams_destroy_confirms(emp: Emp) -> None:
    emp("teams-create", "ops")
    emp("teams-create", "web")
    assert emp("teams-destroy", "ops", stdin="op\n") == (
        1,
        "",
        'error: Confirmation did not match "ops".\n',
    )
    assert emp("teams-destroy", "ops") == (
        1,
        "",
        "error: confirmation required: type ops or pass --confirm ops\n",
    )
    assert emp("teams-destroy", "ops", stdin="ops\n", tty=True) == (
        0,
        "> ",
        "warning: This will destroy team ops and the access it gives. "
        'Please type "ops" to continue:\n'
        "Destroyed team ops.\n",
    )
    assert emp("teams-destroy", "web", "--confirm", "web") == (0, "", "Destroyed team web.\n")
    assert emp("teams") == (0, "", "")
    assert emp("teams-destroy", "web", "--confirm", "web") == (1, "", NO_TEAM.format("web"))


def test_help_lists_the_access_commands(emp: Emp) -> None:
    more = emp("help", "more").out
    for name in ("access", "access-add", "access-remove", "teams", "teams-create"):
        assert f"\n    {name} " in more
    for name in ("teams-destroy", "team-members", "team-members-add", "team-members-remove"):
        assert f"\n    {name} " in more
    assert emp("help", "access").out.startswith("Usage: emp access [-a <app or remote>]\n\n")
