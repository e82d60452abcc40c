"""One-statement reads: an app with, in the same query, what a request shows of it.

A request that reads an app costs one round trip to the database, not one per question: the
app by name or id, the caller's role on it (their own grant or their teams', ranked in SQL),
and the current formation or config vars are scalar subqueries of one SELECT. Each round trip
is worth saving: on an otherwise idle machine both the server and the database process have to
wake up for it (about 0.2 ms against PostgreSQL on loopback, several times the query itself).

The statements are built once per shape, like those of `statements`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, case, func, select

from empire.model import Role
from empire.store import tables as t
from empire.store.sql.statements import HELD, LIVE, LIVE_APP, live

_RANK = case(
    *((t.grants.c.role == role.value, role.rank) for role in Role),
    else_=0,
)
# The highest role the user holds on the app (correlated to the outer apps row), or NULL.
ROLE_RANK = select(func.max(_RANK)).where(t.grants.c.app_id == t.apps.c.id, HELD).scalar_subquery()
# The current release is the newest live one (see `statements`); read backwards along the
# (app_id, version) index.
_CURRENT = select().where(t.releases.c.app_id == t.apps.c.id, LIVE)
_FORMATION = (
    _CURRENT.add_columns(t.releases.c.formation)
    .order_by(t.releases.c.version.desc())
    .limit(1)
    .scalar_subquery()
)
# The current release's config; before the first release, the one the app points at.
_CONFIG_ID = (
    _CURRENT.add_columns(t.releases.c.config_id)
    .order_by(t.releases.c.version.desc())
    .limit(1)
    .correlate(t.apps)  # with the outer query's apps row, two levels up
    .scalar_subquery()
)
_CONFIG = (
    select(t.configs.c.vars)
    .where(t.configs.c.id == func.coalesce(_CONFIG_ID, t.apps.c.config_id))
    .scalar_subquery()
)
_RANKED = {role.rank: role for role in Role}
_VIEWS: dict[tuple[bool, bool, bool, bool], Select[Any]] = {}
_NEWER = t.releases.alias("newer")
# The app's newest live version, for each listed release's `current` flag.
_NEWEST_LIVE = (
    select(_NEWER.c.version)
    .where(_NEWER.c.app_id == t.apps.c.id, live(_NEWER))
    .order_by(_NEWER.c.version.desc())
    .limit(1)
    .scalar_subquery()
)
_R = t.releases.c
_SUMMARY_COLUMNS = (
    _R.id,
    _R.app_id,
    _R.version,
    _R.slug_id,
    _R.description,
    _R.created_at,
    _R.updated_at,
    _R.user_id,
    _R.user_name,
    _R.user_email,
    _R.message,
    _R.outcome,
    _R.reason,
    (_R.version == _NEWEST_LIVE).label("current"),
    t.apps.c.name.label("app_name"),
    t.slugs.c.image.label("slug_image"),
)
_SUMMARIES: dict[tuple[bool, bool], Select[Any]] = {}


def app_view(*, by_id: bool, role: bool, formation: bool, config: bool) -> Select[Any]:
    """The statement for one shape: the app (bound `ident`, an id or a name) with the role of
    bound `user_id` as `role_rank`, its current `formation` and its current `config_vars`, each
    only when asked for."""
    key = (by_id, role, formation, config)
    statement = _VIEWS.get(key)
    if statement is None:
        column = t.apps.c.id if by_id else t.apps.c.name
        statement = select(t.apps).where(LIVE_APP, column == bindparam("ident"))
        if role:
            statement = statement.add_columns(ROLE_RANK.label("role_rank"))
        if formation:
            statement = statement.add_columns(_FORMATION.label("formation"))
        if config:
            statement = statement.add_columns(_CONFIG.label("config_vars"))
        _VIEWS[key] = statement
    return statement


def app_summaries(*, by_id: bool, role: bool) -> Select[Any]:
    """Release summaries of the live app named or identified by bound `ident`, with the role
    of bound `user_id` on it as `role_rank` when asked for; not yet windowed."""
    key = (by_id, role)
    statement = _SUMMARIES.get(key)
    if statement is None:
        column = t.apps.c.id if by_id else t.apps.c.name
        summaries: Select[Any] = select(*_SUMMARY_COLUMNS)
        statement = (
            summaries.join(t.apps, t.apps.c.id == _R.app_id)
            .join(t.slugs, t.slugs.c.id == _R.slug_id)
            .where(LIVE_APP, column == bindparam("ident"))
        )
        if role:
            statement = statement.add_columns(ROLE_RANK.label("role_rank"))
        _SUMMARIES[key] = statement
    return statement


def role(rank: int | None) -> Role | None:
    """The role a `role_rank` column stands for (None: no grant at all)."""
    return _RANKED.get(rank) if rank else None
