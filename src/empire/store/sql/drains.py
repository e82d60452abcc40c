"""The log drains' queries: a mixin of `SqlTransaction`."""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, select

from empire.drains.rules import Drain
from empire.store import tables as t
from empire.store.sql.rows import as_utc


class DrainQueries:
    """Drains: an app's, insert, delete, and every live app's (for the forwarder)."""

    conn: Connection

    def drains(self, app_id: str) -> list[Drain]:
        """The app's drains, oldest first."""
        d = t.drains.c
        query = select(t.drains).where(d.app_id == app_id).order_by(d.created_at, d.id)
        return [_drain(row._mapping) for row in self.conn.execute(query)]

    def insert_drain(self, drain: Drain) -> None:
        self.conn.execute(
            t.drains.insert().values(
                id=drain.id,
                app_id=drain.app_id,
                url=drain.url,
                token=drain.token,
                created_at=drain.created_at,
                updated_at=drain.updated_at,
            )
        )

    def delete_drain(self, drain_id: str) -> None:
        self.conn.execute(t.drains.delete().where(t.drains.c.id == drain_id))

    def live_drains(self) -> list[tuple[str, Drain]]:
        """Every live app's drains with the app's name, by app name then age."""
        d, a = t.drains.c, t.apps.c
        query = (
            select(a.name, t.drains)
            .join(t.apps, a.id == d.app_id)
            .where(a.deleted_at.is_(None))
            .order_by(a.name, d.created_at, d.id)
        )
        return [(row._mapping["name"], _drain(row._mapping)) for row in self.conn.execute(query)]


def _drain(m: RowMapping) -> Drain:
    return Drain(
        id=m["id"],
        app_id=m["app_id"],
        url=m["url"],
        token=m["token"],
        created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]),
    )
