"""Per-app roles and teams through the facade: who may do what, the last-admin guard, the
audit events of grant changes, and what a check costs (nothing for a global admin)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import event

from empire.errors import Conflict, Forbidden, Invalid, NotFound
from empire.main import cli
from empire.model import Page, Role, RunRequest, ScaleUpdate, User
from empire.scheduler import LogQuery
from support.stack import Stack

APP = "acme-inc"
UNKNOWN = "Couldn't find that app: no app named {}"
PAGE = Page(field="name", max=100)


def user(stack: Stack, name: str) -> User:
    created, _ = stack.empire.create_user(name)
    return created


@pytest.fixture
def acme(stack: Stack) -> str:
    """acme-inc deployed by alice (a global admin), v1 with web=1."""
    stack.empire.deploy(f"acme/{APP}:v1", by=stack.user)
    return APP


def texts(stack: Stack, since: int = 0) -> list[str]:
    return [str(e) for e in stack.events.events[since:]]


def forbidden(who: str, role: str, action: str, needed: str) -> str:
    return (
        f"{who} is a {role} of {APP}: {action} needs the {needed} role "
        f"(an admin of {APP} can grant it: emp access-add {who} {needed} -a {APP})"
    )


# -- roles ------------------------------------------------------------------------------------


def test_roles_are_ordered_by_rank_not_by_name() -> None:
    assert Role.VIEWER < Role.DEPLOYER < Role.ADMIN
    assert Role.ADMIN > Role.VIEWER and Role.DEPLOYER >= Role.DEPLOYER
    assert max([Role.DEPLOYER, Role.ADMIN, Role.VIEWER]) is Role.ADMIN
    assert sorted(Role, reverse=True) == [Role.ADMIN, Role.DEPLOYER, Role.VIEWER]
    assert Role("deployer") is Role.DEPLOYER and Role.ADMIN == "admin"


# -- who may do what --------------------------------------------------------------------------


def test_an_app_without_a_role_answers_as_an_unknown_app(stack: Stack, acme: str) -> None:
    bob = user(stack, "bob")
    e = stack.empire
    reads: list[Any] = [
        lambda ident: e.app(ident, by=bob),
        lambda ident: e.releases(ident, PAGE, by=bob),
        lambda ident: e.release(ident, "1", by=bob),
        lambda ident: e.formation(ident, by=bob),
        lambda ident: e.tasks(ident, by=bob),
        lambda ident: e.logs(ident, LogQuery(), by=bob),
        lambda ident: e.domains(ident, PAGE, by=bob),
        lambda ident: e.audit(ident, PAGE, by=bob),
        lambda ident: e.config(ident, by=bob),
        lambda ident: e.access(ident, by=bob),
        lambda ident: e.set_config(ident, {"A": "1"}, by=bob),
        lambda ident: e.destroy(ident, by=bob),
        lambda ident: e.deploy(f"acme/{APP}:v2", app=ident, by=bob),
        lambda ident: e.grant(ident, "bob", "admin", by=bob),
    ]
    app_id = e.app(acme, by=stack.user).id
    for call in reads:
        for ident in (acme, app_id):
            with pytest.raises(NotFound) as hidden:
                call(ident)
            with pytest.raises(NotFound) as unknown:
                call("nope")
            assert hidden.value.message == UNKNOWN.format(ident)
            assert unknown.value.message == UNKNOWN.format("nope")
    assert e.apps(PAGE, by=bob) == []
    with pytest.raises(NotFound, match=UNKNOWN.format(APP)):  # nor by deploying its image
        e.deploy(f"acme/{APP}:v2", by=bob)
    assert [r.version for r in e.releases(acme, PAGE, by=stack.user)] == [1]


def test_a_viewer_reads_but_changes_nothing(stack: Stack, acme: str) -> None:
    carol = user(stack, "carol")
    e = stack.empire
    e.grant(acme, "carol", "viewer", by=stack.user)
    assert e.app(acme, by=carol).name == APP
    assert [r.version for r in e.releases(acme, PAGE, by=carol)] == [1]
    assert e.release(acme, "v1", by=carol).version == 1
    assert [p.name for p in e.formation(acme, by=carol)] == ["web"]
    assert len(e.tasks(acme, by=carol)) == 1
    assert list(e.logs(acme, LogQuery(), by=carol)) is not None
    assert e.domains(acme, PAGE, by=carol) == []
    assert e.audit(acme, PAGE, by=carol)
    assert [g.subject for g in e.access(acme, by=carol)] == ["alice", "carol"]
    assert [a.name for a in e.apps(PAGE, by=carol)] == [APP]

    before = len(stack.events.events)
    refused: list[tuple[str, Any]] = [
        ("reading config vars", lambda: e.config(acme, by=carol)),
        ("reading config vars", lambda: e.config(acme, "1", by=carol)),
        ("deploying", lambda: e.deploy(f"acme/{APP}:v2", by=carol)),
        ("deploying", lambda: e.deploy(f"acme/{APP}:v2", app=acme, by=carol)),
        ("rolling back", lambda: e.rollback(acme, "1", by=carol)),
        ("changing config vars", lambda: e.set_config(acme, {"A": "1"}, by=carol)),
        ("scaling", lambda: e.scale(acme, [ScaleUpdate("web", 2)], by=carol)),
        ("restarting", lambda: e.restart(acme, by=carol)),
        ("restarting", lambda: e.restart_dyno(acme, "v1.web.1", by=carol)),
        ("running a command", lambda: e.run(acme, RunRequest("ls"), by=carol)),
        (
            "running a command",
            lambda: e.run_attached(acme, RunRequest("ls", attach=True), tty=False, by=carol),
        ),
        ("turning maintenance mode on or off", lambda: e.set_maintenance(acme, True, by=carol)),
    ]
    for action, call in refused:
        with pytest.raises(Forbidden) as error:
            call()
        assert error.value.message == forbidden("carol", "viewer", action, "deployer")
    with pytest.raises(Forbidden, match="destroying the app needs the admin role"):
        e.destroy(acme, by=carol)
    assert len(stack.events.events) == before
    assert [r.version for r in e.releases(acme, PAGE, by=carol)] == [1]


def test_a_deployer_deploys_but_does_not_administer(stack: Stack, acme: str) -> None:
    dave = user(stack, "dave")
    e = stack.empire
    e.grant(acme, "dave", "deployer", by=stack.user)
    assert e.deploy(f"acme/{APP}:v2", by=dave).version == 2
    assert e.set_config(acme, {"SECRET": "s"}, by=dave) == {"SECRET": "s"}
    assert e.config(acme, by=dave) == {"SECRET": "s"}
    assert e.config(acme, "2", by=dave) == {}
    e.scale(acme, [ScaleUpdate("web", 2)], by=dave)
    e.restart(acme, by=dave)
    e.run(acme, RunRequest("ls"), by=dave)
    e.set_maintenance(acme, True, by=dave)
    assert e.rollback(acme, "1", by=dave).version == 4
    for action, call in [
        ("destroying the app", lambda: e.destroy(acme, by=dave)),
        ("renaming the app", lambda: e.rename(acme, "acme-two", by=dave)),
        ("adding a domain", lambda: e.add_domain(acme, "www.acme.test", by=dave)),
        ("removing a domain", lambda: e.remove_domain(acme, "www.acme.test", by=dave)),
        ("attaching a certificate", lambda: e.attach_cert(acme, "cert", by=dave)),
        ("changing access", lambda: e.grant(acme, "dave", "admin", by=dave)),
        ("changing access", lambda: e.revoke(acme, "alice", by=dave)),
    ]:
        with pytest.raises(Forbidden) as error:
            call()
        assert error.value.message == forbidden("dave", "deployer", action, "admin")


def test_an_admin_administers(stack: Stack, acme: str) -> None:
    erin = user(stack, "erin")
    e = stack.empire
    e.grant(acme, "erin", "admin", by=stack.user)
    e.add_domain(acme, "www.acme.test", by=erin)
    e.remove_domain(acme, "www.acme.test", by=erin)
    e.attach_cert(acme, "arn:aws:acm:us-east-1:1:certificate/x", by=erin)
    e.grant(acme, "alice", "viewer", by=erin)
    renamed = e.rename(acme, "acme-two", by=erin)
    assert [g.subject for g in e.access("acme-two", by=erin)] == ["alice", "erin"]
    e.destroy("acme-two", by=erin)
    with pytest.raises(NotFound):
        e.app(renamed.id, by=stack.user)


def test_the_creator_of_an_app_is_its_admin(stack: Stack) -> None:
    bob = user(stack, "bob")
    e = stack.empire
    created = e.create("bobs-app", by=bob)
    deployed = e.deploy("acme/bobs-other:v1", by=bob)
    for name in ("bobs-app", "bobs-other"):
        [grant] = e.access(name, by=bob)
        assert (grant.subject, grant.role, grant.user) == ("bob", Role.ADMIN, bob)
    assert [a.name for a in e.apps(PAGE, by=bob)] == ["bobs-app", "bobs-other"]
    assert [a.name for a in e.apps(PAGE, by=stack.user)] == ["bobs-app", "bobs-other"]
    assert deployed.app_name == "bobs-other" and created.name == "bobs-app"
    assert e.apps(PAGE, by=user(stack, "carol")) == []


def test_a_role_through_a_team_counts_and_the_highest_wins(stack: Stack, acme: str) -> None:
    carol = user(stack, "carol")
    e = stack.empire
    e.create_team("ops", by=stack.user)
    e.grant(acme, "team:ops", "deployer", by=stack.user)
    with pytest.raises(NotFound):
        e.app(acme, by=carol)
    e.add_member("ops", "carol", by=stack.user)
    assert e.config(acme, by=carol) == {}
    e.grant(acme, "carol", "viewer", by=stack.user)  # her own, lower grant does not hide it
    assert e.config(acme, by=carol) == {}
    e.grant(acme, "team:ops", "viewer", by=stack.user)
    with pytest.raises(Forbidden, match="carol is a viewer of acme-inc"):
        e.config(acme, by=carol)
    e.grant(acme, "carol", "admin", by=stack.user)
    e.add_domain(acme, "www.acme.test", by=carol)
    e.revoke(acme, "carol", by=stack.user)
    e.remove_member("ops", "carol", by=stack.user)
    with pytest.raises(NotFound):
        e.app(acme, by=carol)
    assert e.apps(PAGE, by=carol) == []


# -- grants -----------------------------------------------------------------------------------


def test_grants_change_roles_and_are_audited(stack: Stack, acme: str) -> None:
    bob = user(stack, "bob")
    e = stack.empire
    e.create_team("ops", by=stack.user)
    since = len(stack.events.events)
    first = e.grant(acme, "bob", "viewer", by=stack.user, message="on call")
    assert (first.user, first.team, first.role, first.app_name) == (bob, None, Role.VIEWER, APP)
    again = e.grant(acme, "bob@empire.local", Role.VIEWER, by=stack.user)  # unchanged: no event
    assert again == first
    changed = e.grant(acme, bob.id, "deployer", by=stack.user, create=False)
    assert (changed.id, changed.role, changed.created_at) == (
        first.id,
        Role.DEPLOYER,
        first.created_at,
    )
    team = e.grant(acme, "team:ops", "viewer", by=stack.user)
    assert team.team is not None and team.subject == "team:ops" and team.user is None
    assert [(g.subject, g.role) for g in e.access(acme, by=bob)] == [
        ("alice", Role.ADMIN),
        ("bob", Role.DEPLOYER),
        ("team:ops", Role.VIEWER),
    ]
    assert e.revoke(acme, "bob", by=stack.user).role is Role.DEPLOYER
    e.revoke(acme, "team:ops", by=stack.user, message="reorg")
    assert texts(stack, since) == [
        "alice granted bob viewer on acme-inc: 'on call'",
        "alice granted bob deployer on acme-inc (was viewer)",
        "alice granted team ops viewer on acme-inc",
        "alice revoked deployer on acme-inc from bob",
        "alice revoked viewer on acme-inc from team ops: 'reorg'",
    ]
    assert {ev.kind for ev in stack.events.events[since:]} == {"access"}
    assert {ev.app for ev in stack.events.events[since:]} == {APP}
    assert [str(ev) for ev in e.audit(acme, Page("created_at", max=100), by=stack.user)][-1] == (
        "alice revoked viewer on acme-inc from team ops: 'reorg'"
    )


def test_grant_errors(stack: Stack, acme: str) -> None:
    e = stack.empire
    user(stack, "bob")
    with pytest.raises(Invalid, match="invalid role 'owner': use viewer"):
        e.grant(acme, "bob", "owner", by=stack.user)
    with pytest.raises(NotFound, match="Couldn't find that user: no user named nobody"):
        e.grant(acme, "nobody", "viewer", by=stack.user)
    with pytest.raises(NotFound, match="Couldn't find that team: no team named nope"):
        e.grant(acme, "team:nope", "viewer", by=stack.user)
    message = (
        f"Couldn't find that collaborator: bob has no access to {APP} (see emp access -a {APP})"
    )
    with pytest.raises(NotFound) as error:
        e.grant(acme, "bob", "viewer", by=stack.user, create=False)
    assert error.value.message == message
    with pytest.raises(NotFound) as error:
        e.revoke(acme, "bob", by=stack.user)
    assert error.value.message == message
    stack.empire.disable_user("bob")
    with pytest.raises(NotFound, match="no user named bob"):
        e.grant(acme, "bob", "viewer", by=stack.user)


def test_a_disabled_users_grant_can_still_be_revoked(stack: Stack, acme: str) -> None:
    user(stack, "bob")
    stack.empire.grant(acme, "bob", "viewer", by=stack.user)
    stack.empire.disable_user("bob")
    assert stack.empire.revoke(acme, "bob", by=stack.user).subject == "bob"


def test_the_last_admin_cannot_leave_unless_a_global_admin_says_so(stack: Stack) -> None:
    bob, carol = user(stack, "bob"), user(stack, "carol")
    e = stack.empire
    e.create(APP, by=bob)
    last = (
        f"bob is the last admin of {APP}: make someone else an admin first "
        f"(emp access-add USER admin -a {APP}), or ask a global admin"
    )
    for call in (
        lambda: e.revoke(APP, "bob", by=bob),
        lambda: e.grant(APP, "bob", "deployer", by=bob),
    ):
        with pytest.raises(Conflict) as error:
            call()
        assert error.value.message == last
    e.grant(APP, "carol", "admin", by=bob)
    e.grant(APP, "bob", "deployer", by=bob)  # carol is an admin now
    with pytest.raises(Forbidden):
        e.grant(APP, "bob", "admin", by=bob)
    with pytest.raises(Conflict, match="carol is the last admin"):
        e.revoke(APP, "carol", by=carol)
    e.revoke(APP, "carol", by=stack.user)  # a global admin may leave an app without one
    assert [(g.subject, g.role) for g in e.access(APP, by=bob)] == [("bob", Role.DEPLOYER)]


# -- teams ------------------------------------------------------------------------------------


def test_teams_are_managed_by_global_admins(stack: Stack, acme: str) -> None:
    bob, carol = user(stack, "bob"), user(stack, "carol")
    e = stack.empire
    since = len(stack.events.events)
    ops = e.create_team("ops", by=stack.user)
    e.create_team("web", by=stack.user)
    assert e.add_member("ops", "bob", by=stack.user) == (ops, bob)
    e.add_member(ops.id, "carol@empire.local", by=stack.user)
    e.add_member("ops", "bob", by=stack.user)  # again: nothing changes, no event
    assert [t.name for t in e.teams(by=stack.user)] == ["ops", "web"]
    assert [t.name for t in e.teams(by=bob)] == ["ops"]
    assert e.team("ops", by=bob) == ops
    assert e.team_members("ops", by=carol) == (ops, [bob, carol])
    for call in (lambda: e.team("web", by=bob), lambda: e.team_members("web", by=bob)):
        with pytest.raises(NotFound) as error:
            call()
        assert error.value.message == "Couldn't find that team: no team named web"
    for action, call in [
        ("creating a team", lambda: e.create_team("mine", by=bob)),
        ("destroying a team", lambda: e.destroy_team("ops", by=bob)),
        ("changing a team", lambda: e.add_member("ops", "alice", by=bob)),
        ("changing a team", lambda: e.remove_member("ops", "carol", by=bob)),
    ]:
        with pytest.raises(Forbidden) as refused:
            call()
        assert refused.value.message == (
            f"bob is not a global admin: {action} needs one "
            "(ask a global admin, or run `empire teams` on the server)"
        )
    with pytest.raises(Conflict, match="team ops already exists"):
        e.create_team("ops", by=stack.user)
    with pytest.raises(Invalid, match="invalid team name 'Ops!'"):
        e.create_team("Ops!", by=stack.user)
    with pytest.raises(NotFound, match="alice is not a member of team ops"):
        e.remove_member("ops", "alice", by=stack.user)
    with pytest.raises(NotFound, match="no user named nobody"):
        e.add_member("ops", "nobody", by=stack.user)

    e.grant(acme, "team:ops", "viewer", by=stack.user)
    assert e.app(acme, by=carol).name == APP
    e.remove_member("ops", "carol", by=stack.user)
    e.destroy_team("ops", by=stack.user)  # its grants go with it
    assert [g.subject for g in e.access(acme, by=stack.user)] == ["alice"]
    with pytest.raises(NotFound):
        e.app(acme, by=bob)
    assert texts(stack, since) == [
        "alice created team ops",
        "alice created team web",
        "alice added bob to team ops",
        "alice added carol to team ops",
        "alice granted team ops viewer on acme-inc",
        "alice removed carol from team ops",
        "alice destroyed team ops",
    ]


# -- cost -------------------------------------------------------------------------------------


@contextmanager
def statements(stack: Stack) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(stack.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(stack.store.engine, "before_cursor_execute", record)


def test_checking_a_role_costs_no_extra_query(stack: Stack, acme: str) -> None:
    # A global admin's requests never read grants; anyone else's role is read in the same
    # statement as the app (one round trip either way).
    bob = user(stack, "bob")
    stack.empire.create_team("ops", by=stack.user)
    stack.empire.add_member("ops", "bob", by=stack.user)
    stack.empire.grant(acme, "team:ops", "viewer", by=stack.user)
    with statements(stack) as plain:
        stack.empire.app(acme, by=stack.user)
        stack.empire.releases(acme, PAGE, by=stack.user)
    with statements(stack) as checked:
        stack.empire.app(acme, by=bob)
        stack.empire.releases(acme, PAGE, by=bob)
    assert not any("grants" in sql for sql in plain)
    assert len(checked) == len(plain)
    with_role = [sql for sql in checked if "grants" in sql]
    assert len(with_role) == 2 and all("apps.deleted_at IS NULL" in sql for sql in with_role)


# -- the server's own commands ----------------------------------------------------------------


def test_empire_teams_and_access_commands(tmp_path: Path) -> None:
    env = {
        "EMPIRE_DATA_DIR": str(tmp_path),
        "EMPIRE_SCHEDULER": "fake",
        "EMPIRE_IMAGES": "fake",
    }
    runner = CliRunner()

    def empire(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.output

    assert empire("users", "create", "bob")[0] == 0
    assert empire("teams", "create", "ops") == (0, "Created team ops.\n")
    assert empire("teams", "add-member", "ops", "bob") == (0, "Added bob to team ops.\n")
    assert empire("teams", "list") == (0, "ops\tbob\n")
    assert empire("teams", "create", "ops") == (1, "Error: team ops already exists\n")
    assert empire("access", "grant", "nope", "team:ops", "viewer") == (
        1,
        "Error: Couldn't find that app: no app named nope\n",
    )
    assert empire("teams", "remove-member", "ops", "bob") == (0, "Removed bob from team ops.\n")
    assert empire("teams", "destroy", "ops") == (0, "Destroyed team ops.\n")
    assert empire("teams", "list") == (0, "")
