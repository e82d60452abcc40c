"""The prebuilt statements and the keyset windows over them.

The statements every request runs are module constants, built once at import: constructing a
query costs more than running it.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, bindparam, literal, or_, select

from empire.model import Outcome, Page
from empire.store import tables as t

_WINDOWS: dict[tuple[int, str, bool, bool, bool], Select[Any]] = {}


def windowed(
    query: Select[Any], column: Any, page: Page, start: Any
) -> tuple[Select[Any], dict[str, Any]]:
    """Apply a Range window to a query built once (a module constant): keyset from `start`, in
    order, at most `max` rows. The windowed statement is built once per shape too, with the
    start and the size as parameters."""
    key = (id(query), column.key, page.descending, page.exclusive, start is not None)
    statement = _WINDOWS.get(key)
    if statement is None:
        statement = query
        if start is not None:
            bound: Any = bindparam("start")
            if page.descending:
                statement = statement.where(column < bound if page.exclusive else column <= bound)
            else:
                statement = statement.where(column > bound if page.exclusive else column >= bound)
        order = column.desc() if page.descending else column.asc()
        statement = statement.order_by(order).limit(bindparam("limit"))
        _WINDOWS[key] = statement
    params: dict[str, Any] = {"limit": page.max}
    if start is not None:
        params["start"] = start
    return statement, params


# The current release is the newest one that is rolling out or rolled out: a release that
# failed or was rolled back never replaced the one before it.
VERSION = re.compile(r"[0-9]{1,9}")  # ASCII digits that fit an INTEGER column
_LIVE_OUTCOMES = (Outcome.PENDING.value, Outcome.SUCCEEDED.value)


def live(releases: FromClause) -> ColumnElement[bool]:
    """The condition that a row of `releases` (the table or an alias) is live. Literal values,
    not an "expanding" IN parameter: that one is rendered anew at each execution."""
    return releases.c.outcome.in_([literal(value) for value in _LIVE_OUTCOMES])


LIVE = live(t.releases)
# The grants bound `user_id` holds, directly or through a team.
_TEAMS_OF = select(t.team_members.c.team_id).where(t.team_members.c.user_id == bindparam("user_id"))
HELD = or_(t.grants.c.user_id == bindparam("user_id"), t.grants.c.team_id.in_(_TEAMS_OF))


def _build_releases(current: Any = None) -> Select[Any]:
    """Releases with their config and slug; `current` is computed per row unless given."""
    if current is None:
        newer = t.releases.alias("newer")
        latest = (
            select(newer.c.version)
            .where(newer.c.app_id == t.releases.c.app_id, live(newer))
            .order_by(newer.c.version.desc())
            .limit(1)
            .scalar_subquery()
        )
        current = t.releases.c.version == latest
    return (
        select(
            t.releases,
            current.label("current"),
            t.apps.c.name.label("app_name"),
            t.configs.c.vars.label("config_vars"),
            t.configs.c.created_at.label("config_created_at"),
            t.slugs.c.image.label("slug_image"),
            t.slugs.c.procfile.label("slug_procfile"),
        )
        .join(t.apps, t.apps.c.id == t.releases.c.app_id)
        .join(t.configs, t.configs.c.id == t.releases.c.config_id)
        .join(t.slugs, t.slugs.c.id == t.releases.c.slug_id)
    )


# Built once: constructing these queries costs more than running them.
RELEASES = _build_releases()
# The current release is by definition the newest live one.
# Its id is found first, backwards along the (app_id, version) index, so the joins touch one
# row (joining first made PostgreSQL sort every release of the app).
_CURRENT_ID = (
    select(t.releases.c.id)
    .where(t.releases.c.app_id == bindparam("app"), LIVE)
    .order_by(t.releases.c.version.desc())
    .limit(1)
    .scalar_subquery()
)
LATEST = _build_releases(literal(True)).where(t.releases.c.id == _CURRENT_ID)
# The statements every request runs, built once (building one costs more than running it).
LIVE_APP = t.apps.c.deleted_at.is_(None)
LOCK_APP = select(t.apps.c.id).where(t.apps.c.id == bindparam("app")).with_for_update()
LIVE_CONFIG = select(t.configs).where(
    t.configs.c.id
    == select(t.releases.c.config_id).where(t.releases.c.id == _CURRENT_ID).scalar_subquery()
)
POINTED_CONFIG = (
    select(t.configs)
    .join(t.apps, t.apps.c.config_id == t.configs.c.id)
    .where(t.apps.c.id == bindparam("app"))
)
INSERT_CONFIG = t.configs.insert()
POINT_CONFIG = (
    t.apps.update().where(t.apps.c.id == bindparam("app")).values(config_id=bindparam("config"))
)
INSERT_RELEASE = t.releases.insert()
RELEASED = (
    t.apps.update()
    .where(t.apps.c.id == bindparam("app"))
    .values(config_id=bindparam("config"), released_at=bindparam("at"))
)
SET_OUTCOME = (
    t.releases.update()
    .where(t.releases.c.id == bindparam("release"))
    .values(outcome=bindparam("outcome"), reason=bindparam("reason"), updated_at=bindparam("at"))
)
SET_PHASE = (
    t.releases.update()
    .where(t.releases.c.id == bindparam("release"))
    .values(phase=bindparam("phase"), phase_output=bindparam("output"), updated_at=bindparam("at"))
)
INSERT_EVENT = t.events.insert()
LIVE_APPS = select(t.apps).where(LIVE_APP)
APP_DOMAINS = select(t.domains).where(t.domains.c.app_id == bindparam("app"))
# The newest version: read backwards from the end of the (app_id, version) index. PostgreSQL
# plans max(version) as a scan of all the app's index entries once the table is analyzed,
# which grows with every release.
NEWEST_VERSION = (
    select(t.releases.c.version)
    .where(t.releases.c.app_id == bindparam("app"))
    .order_by(t.releases.c.version.desc())
    .limit(1)
)
