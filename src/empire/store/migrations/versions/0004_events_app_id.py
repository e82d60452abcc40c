"""Audit events keyed by app id: an app's trail is read by id, as names are reused.

The backfill replays the log in order to tell which app each name meant when the event was
recorded: a `create` event claims the app it created, a `rename` moves the name, a `destroy`
frees it. Events recorded under an app's id (a deploy addressed by id did that) get the id and
the app's name. Events no app can be found for keep no id: no app's trail shows them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PAGE = 5000
_RENAME = re.compile(r" renamed (\S+) to (\S+)$")
_SLACK = timedelta(minutes=1)  # a destroy event is recorded just after the app's deleted_at
_apps = sa.table(
    "apps",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("deleted_at", sa.DateTime(timezone=True)),
)
_events = sa.table(
    "events",
    sa.column("seq", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("app_id", sa.String),
    sa.column("app_name", sa.String),
    sa.column("text", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.add_column("events", sa.Column("app_id", sa.String(36)))
    backfill(op.get_bind())
    op.create_index("events_app", "events", ["app_id", "seq"])
    op.drop_index("events_app_created", "events")


def downgrade() -> None:
    op.create_index("events_app_created", "events", ["app_name", "created_at"])
    op.drop_index("events_app", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("app_id")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Replay:
    """Which app a name meant at each point of the log."""

    def __init__(self, apps: list[Any]) -> None:
        self.apps = [(row.id, row.name, _utc(row.created_at), _utc(row.deleted_at)) for row in apps]
        self.by_id = {app[0]: app for app in self.apps}
        self.current: dict[str, str] = {}  # name -> app id, as the log replays
        self.claimed: set[str] = set()  # apps a create event was matched to

    def app_of(self, kind: str, name: str, text: str, at: datetime) -> tuple[str, str] | None:
        """(app id, name to show) for one event, in log order."""
        if name in self.by_id:  # recorded under the app's id
            return name, self.by_id[name][1]
        if kind == "rename":  # recorded under the new name: the old one moves to it
            match = _RENAME.search(text)
            if match and match.group(2) == name and match.group(1) in self.current:
                self.current[name] = self.current.pop(match.group(1))
        if kind == "create" or name not in self.current:
            found = self._created(name, at) if kind == "create" else None
            found = found or self._alive(name, at)
            if found is None:
                return None
            self.current[name] = found
        app_id = self.current[name]
        if kind == "destroy":
            del self.current[name]
        return app_id, name

    def _created(self, name: str, at: datetime) -> str | None:
        """The app a create event made: the newest unclaimed one created before it, preferring
        one that still has the name."""
        before = [a for a in self.apps if a[0] not in self.claimed and a[2] and a[2] <= at]
        named = [a for a in before if a[1] == name]
        pick = max(named or before, key=lambda a: a[2] or at, default=None)
        if pick is None:
            return None
        self.claimed.add(pick[0])
        return str(pick[0])

    def _alive(self, name: str, at: datetime) -> str | None:
        """The app that has the name and was alive at `at` (events older than the log)."""
        alive = [
            a
            for a in self.apps
            if a[1] == name and a[2] and a[2] <= at and (a[3] is None or a[3] + _SLACK >= at)
        ]
        pick = max(alive, key=lambda a: a[2] or at, default=None)
        return str(pick[0]) if pick else None


def backfill(conn: sa.Connection) -> int:
    """Give every event the id of the app it happened to; return how many got one."""
    replay = _Replay(list(conn.execute(sa.select(_apps))))
    update = (
        _events.update()
        .where(_events.c.seq == sa.bindparam("row"))
        .values(app_id=sa.bindparam("id"), app_name=sa.bindparam("name"))
    )
    last, count = 0, 0
    while True:
        rows = conn.execute(
            sa.select(
                _events.c.seq,
                _events.c.kind,
                _events.c.app_name,
                _events.c.text,
                _events.c.created_at,
            )
            .where(_events.c.seq > last, _events.c.app_name.is_not(None))
            .order_by(_events.c.seq)
            .limit(PAGE)
        ).all()
        if not rows:
            return count
        changes = []
        for row in rows:
            at = _utc(row.created_at)
            assert at is not None
            found = replay.app_of(row.kind, row.app_name, row.text, at)
            if found is not None:
                changes.append({"row": row.seq, "id": found[0], "name": found[1]})
        if changes:
            conn.execute(update, changes)
            count += len(changes)
        last = rows[-1].seq
