"""The store's access queries (per-app grants, teams): a mixin of `SqlTransaction`.

The effective role of a user on an app is one query over the user's own grant and their teams'
grants; it runs in the transaction that loads the app, so a check costs no extra transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select
from sqlalchemy.exc import IntegrityError

from empire.errors import Conflict
from empire.model import App, Grant, Page, Role, Team, User
from empire.secrets import Cipher
from empire.store import tables as t
from empire.store.sql import views
from empire.store.sql.rows import app_from_row, as_utc, user_from_row
from empire.store.sql.statements import HELD, windowed

# Built once: constructing a query costs more than running it (see statements.RELEASES).
# The highest role on one app, ranked as `views` ranks it for the app reads.
_ROLE = select(views.ROLE_RANK).where(t.apps.c.id == bindparam("app_id"))
# The live apps a user holds a role on, directly or through a team.
_VISIBLE_APPS = select(t.apps).where(
    t.apps.c.deleted_at.is_(None), t.apps.c.id.in_(select(t.grants.c.app_id).where(HELD))
)
_GRANTS = (
    select(
        t.grants,
        t.apps.c.name.label("app_name"),
        t.users.c.name.label("user_name"),
        t.users.c.email.label("user_email"),
        t.users.c.admin.label("user_admin"),
        t.teams.c.name.label("team_name"),
        t.teams.c.created_at.label("team_created_at"),
    )
    .join(t.apps, t.apps.c.id == t.grants.c.app_id)
    .outerjoin(t.users, t.users.c.id == t.grants.c.user_id)
    .outerjoin(t.teams, t.teams.c.id == t.grants.c.team_id)
)


class AccessQueries:
    """Grants and teams, on the transaction's connection."""

    conn: Connection
    cipher: Cipher | None  # the apps' certificates are encrypted with it

    # -- roles and grants ---------------------------------------------------------------------

    def role(self, app_id: str, user_id: str) -> Role | None:
        return views.role(self.conn.execute(_ROLE, {"app_id": app_id, "user_id": user_id}).scalar())

    def grants(self, app_id: str) -> list[Grant]:
        query = _GRANTS.where(t.grants.c.app_id == app_id).order_by(
            t.grants.c.team_id.is_not(None), func.coalesce(t.users.c.name, t.teams.c.name)
        )
        return [_grant(row._mapping) for row in self.conn.execute(query)]

    def put_grant(self, grant: Grant) -> None:
        subject = _subject(grant)
        changed = self.conn.execute(
            t.grants.update()
            .where(t.grants.c.app_id == grant.app_id, subject)
            .values(role=grant.role.value)
        )
        if changed.rowcount:
            return
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    t.grants.insert().values(
                        id=grant.id,
                        app_id=grant.app_id,
                        user_id=grant.user.id if grant.user else None,
                        team_id=grant.team.id if grant.team else None,
                        role=grant.role.value,
                        created_at=grant.created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(
                f"the access of {grant.subject} to {grant.app_name} was changed concurrently; "
                "retry the request"
            ) from exc

    def delete_grant(self, grant_id: str) -> None:
        self.conn.execute(t.grants.delete().where(t.grants.c.id == grant_id))

    def visible_apps(self, user_id: str, page: Page) -> list[App]:
        column = t.apps.c.name if page.field == "name" else t.apps.c.id
        query, params = windowed(_VISIBLE_APPS, column, page, page.start)
        rows = self.conn.execute(query, {"user_id": user_id, **params})
        return [app_from_row(r._mapping, self.cipher) for r in rows]

    # -- users and teams ----------------------------------------------------------------------

    def find_user(self, ident: str) -> User | None:
        u = t.users.c
        query = (
            select(t.users)
            .where(u.disabled.is_(False), or_(u.name == ident, u.email == ident, u.id == ident))
            .order_by(case((u.name == ident, 0), (u.email == ident, 1), else_=2))
            .limit(1)
        )
        row = self.conn.execute(query).first()
        return user_from_row(row._mapping) if row else None

    def team(self, ident: str) -> Team | None:
        query = select(t.teams).where(or_(t.teams.c.name == ident, t.teams.c.id == ident))
        row = self.conn.execute(query.order_by(t.teams.c.name != ident).limit(1)).first()
        return _team(row._mapping) if row else None

    def teams(self, user_id: str | None = None) -> list[Team]:
        query = select(t.teams)
        if user_id is not None:
            query = query.join(
                t.team_members,
                and_(
                    t.team_members.c.team_id == t.teams.c.id,
                    t.team_members.c.user_id == user_id,
                ),
            )
        return [_team(row._mapping) for row in self.conn.execute(query.order_by(t.teams.c.name))]

    def insert_team(self, team: Team) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    t.teams.insert().values(id=team.id, name=team.name, created_at=team.created_at)
                )
        except IntegrityError as exc:
            raise Conflict(f"team {team.name} already exists") from exc

    def delete_team(self, team_id: str) -> None:
        # The foreign keys cascade too; deleting explicitly does not depend on them.
        self.conn.execute(t.grants.delete().where(t.grants.c.team_id == team_id))
        self.conn.execute(t.team_members.delete().where(t.team_members.c.team_id == team_id))
        self.conn.execute(t.teams.delete().where(t.teams.c.id == team_id))

    def team_members(self, team_id: str) -> list[User]:
        query = (
            select(t.users)
            .join(t.team_members, t.team_members.c.user_id == t.users.c.id)
            .where(t.team_members.c.team_id == team_id)
            .order_by(t.users.c.name)
        )
        return [user_from_row(row._mapping) for row in self.conn.execute(query)]

    def is_member(self, team_id: str, user_id: str) -> bool:
        m = t.team_members.c
        query = select(m.team_id).where(m.team_id == team_id, m.user_id == user_id)
        return self.conn.execute(query).first() is not None

    def add_member(self, team_id: str, user_id: str) -> bool:
        if self.is_member(team_id, user_id):
            return False
        try:
            with self.conn.begin_nested():
                self.conn.execute(t.team_members.insert().values(team_id=team_id, user_id=user_id))
        except IntegrityError:  # added concurrently
            return False
        return True

    def remove_member(self, team_id: str, user_id: str) -> bool:
        m = t.team_members.c
        result = self.conn.execute(
            t.team_members.delete().where(m.team_id == team_id, m.user_id == user_id)
        )
        return bool(result.rowcount)


def _subject(grant: Grant) -> Any:
    if grant.team is not None:
        return t.grants.c.team_id == grant.team.id
    assert grant.user is not None
    return t.grants.c.user_id == grant.user.id


def _team(m: Any) -> Team:
    return Team(id=m["id"], name=m["name"], created_at=as_utc(m["created_at"]))


def _grant(m: Any) -> Grant:
    user = team = None
    if m["user_id"] is not None:
        user = User(
            id=m["user_id"],
            name=m["user_name"],
            email=m["user_email"] or "",
            admin=bool(m["user_admin"]),
        )
    else:
        team = Team(id=m["team_id"], name=m["team_name"], created_at=as_utc(m["team_created_at"]))
    return Grant(
        id=m["id"],
        app_id=m["app_id"],
        app_name=m["app_name"],
        role=Role(m["role"]),
        created_at=as_utc(m["created_at"]),
        user=user,
        team=team,
    )
