"""The store's access queries (grants, teams, visible apps), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from empire.errors import Conflict
from empire.model import App, Grant, Page, Role, Team, User
from empire.store.sql import SqlStore

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


ALICE = User(uid(1), "alice", "alice@example.com")
BOB = User(uid(2), "bob", "bob@example.com")
CAROL = User(uid(3), "carol", "carol@example.com")
OPS = Team(uid(10), "ops", NOW)
WEB = Team(uid(11), "web", NOW)
ACME = App(uid(20), "acme-inc", NOW, NOW)
OTHER = App(uid(21), "other", NOW, NOW)
THIRD = App(uid(22), "third", NOW, NOW)


def grant(
    n: int, app: App, role: Role, *, user: User | None = None, team: Team | None = None
) -> Grant:
    return Grant(uid(100 + n), app.id, app.name, role, NOW, user=user, team=team)


@pytest.fixture
def seeded(store: SqlStore) -> SqlStore:
    """Three users, teams ops (bob, carol) and web (carol), apps acme-inc, other and third."""
    with store.write() as tx:
        for user in (ALICE, BOB, CAROL):
            tx.insert_user(user, NOW)
        for team in (OPS, WEB):
            tx.insert_team(team)
        for app in (ACME, OTHER, THIRD):
            tx.insert_app(app)
        assert tx.add_member(OPS.id, BOB.id)
        assert tx.add_member(OPS.id, CAROL.id)
        assert tx.add_member(WEB.id, CAROL.id)
    return store


@contextmanager
def counting(store: SqlStore) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_the_effective_role_is_the_highest_of_own_and_team_grants(seeded: SqlStore) -> None:
    with seeded.write() as tx:
        tx.put_grant(grant(1, ACME, Role.VIEWER, user=BOB))
        tx.put_grant(grant(2, ACME, Role.DEPLOYER, team=OPS))
        tx.put_grant(grant(3, ACME, Role.VIEWER, team=WEB))
        tx.put_grant(grant(4, OTHER, Role.ADMIN, user=ALICE))
        tx.put_grant(grant(5, THIRD, Role.ADMIN, team=WEB))
    with seeded.read() as tx:
        assert tx.role(ACME.id, BOB.id) is Role.DEPLOYER  # own viewer, ops deployer
        assert tx.role(ACME.id, CAROL.id) is Role.DEPLOYER  # ops deployer, web viewer
        assert tx.role(ACME.id, ALICE.id) is None  # an admin of another app only
        assert tx.role(OTHER.id, ALICE.id) is Role.ADMIN
        assert tx.role(THIRD.id, CAROL.id) is Role.ADMIN
        assert tx.role(THIRD.id, BOB.id) is None
        assert tx.role(uid(999), BOB.id) is None
    with seeded.read() as tx, counting(seeded) as statements:
        tx.role(ACME.id, CAROL.id)
    assert len(statements) == 1  # one query, whatever the number of teams
    with seeded.write() as tx:
        assert tx.remove_member(OPS.id, BOB.id)
        assert not tx.remove_member(OPS.id, BOB.id)
    with seeded.read() as tx:
        assert tx.role(ACME.id, BOB.id) is Role.VIEWER


def test_grants_are_upserted_listed_and_deleted(seeded: SqlStore) -> None:
    with seeded.write() as tx:
        tx.put_grant(grant(1, ACME, Role.VIEWER, user=BOB))
        tx.put_grant(grant(2, ACME, Role.ADMIN, user=ALICE))
        tx.put_grant(grant(3, ACME, Role.DEPLOYER, team=OPS))
        tx.put_grant(grant(9, ACME, Role.ADMIN, user=BOB))  # bob's grant gets the new role
    with seeded.read() as tx:
        grants = tx.grants(ACME.id)
        assert tx.grants(OTHER.id) == []
    assert grants == [
        grant(2, ACME, Role.ADMIN, user=ALICE),
        grant(1, ACME, Role.ADMIN, user=BOB),
        grant(3, ACME, Role.DEPLOYER, team=OPS),
    ]
    assert [g.subject for g in grants] == ["alice", "bob", "team:ops"]
    with seeded.write() as tx:
        tx.delete_grant(uid(101))
    with seeded.read() as tx:
        assert [g.subject for g in tx.grants(ACME.id)] == ["alice", "team:ops"]


def test_visible_apps_are_those_with_a_grant(seeded: SqlStore) -> None:
    with seeded.write() as tx:
        tx.put_grant(grant(1, ACME, Role.VIEWER, user=BOB))
        tx.put_grant(grant(2, THIRD, Role.VIEWER, team=OPS))
        tx.put_grant(grant(3, OTHER, Role.VIEWER, team=WEB))
    with seeded.read() as tx:
        page = Page("name", max=10)
        assert [a.name for a in tx.visible_apps(BOB.id, page)] == ["acme-inc", "third"]
        assert [a.name for a in tx.visible_apps(CAROL.id, page)] == ["other", "third"]
        assert tx.visible_apps(ALICE.id, page) == []
        first = tx.visible_apps(BOB.id, Page("name", max=1))
        rest = tx.visible_apps(BOB.id, Page("name", start=first[-1].name, exclusive=True))
        assert [a.name for a in first + rest] == ["acme-inc", "third"]
        assert [a.name for a in tx.visible_apps(BOB.id, Page("id", descending=True))] == [
            "third",
            "acme-inc",
        ]
        assert tx.visible_apps(BOB.id, Page("name", start="'; DROP TABLE apps; --")) != []
    with seeded.write() as tx:
        tx.delete_app(THIRD.id, NOW)
    with seeded.read() as tx:
        assert [a.name for a in tx.visible_apps(BOB.id, Page("name"))] == ["acme-inc"]


def test_users_are_found_by_name_email_or_id(seeded: SqlStore) -> None:
    with seeded.read() as tx:
        assert tx.find_user("bob") == BOB
        assert tx.find_user("bob@example.com") == BOB
        assert tx.find_user(BOB.id) == BOB
        assert tx.find_user("nobody") is None
    with seeded.write() as tx:
        tx.disable_user(BOB.id)
    with seeded.read() as tx:
        assert tx.find_user("bob") is None


def test_teams_and_members(seeded: SqlStore) -> None:
    with seeded.write() as tx, pytest.raises(Conflict, match="team ops already exists"):
        tx.insert_team(Team(uid(12), "ops", NOW))
    with seeded.write() as tx:
        assert not tx.add_member(OPS.id, BOB.id)  # already one
        tx.put_grant(grant(1, ACME, Role.ADMIN, team=OPS))
    with seeded.read() as tx:
        assert tx.team("ops") == OPS
        assert tx.team(OPS.id) == OPS
        assert tx.team("nope") is None
        assert tx.teams() == [OPS, WEB]
        assert tx.teams(CAROL.id) == [OPS, WEB]
        assert tx.teams(BOB.id) == [OPS]
        assert tx.teams(ALICE.id) == []
        assert tx.team_members(OPS.id) == [BOB, CAROL]
        assert tx.is_member(OPS.id, BOB.id) and not tx.is_member(WEB.id, BOB.id)
    with seeded.write() as tx:
        tx.delete_team(OPS.id)
    with seeded.read() as tx:
        assert tx.teams() == [WEB]
        assert tx.grants(ACME.id) == []  # its grants went with it
        assert tx.teams(BOB.id) == []
        assert tx.role(ACME.id, BOB.id) is None
