"""The store's event log queries: a mixin of `SqlTransaction`."""

from __future__ import annotations

from sqlalchemy import Connection, select

from empire.events import Event
from empire.model import Page
from empire.store import tables as t
from empire.store.sql.rows import as_utc
from empire.store.sql.statements import INSERT_EVENT


class EventQueries:
    """Events: record one, list an app's (by its id), on the transaction's connection."""

    conn: Connection

    # -- events -------------------------------------------------------------------------------

    def insert_event(self, event: Event) -> int:
        """Insert an event; return the seq it got (webhook deliveries point at it)."""
        inserted = self.conn.execute(
            INSERT_EVENT,
            {
                "kind": event.kind,
                "user_name": event.user,
                "app_id": event.app_id,
                "app_name": event.app,
                "text": event.text,
                "message": event.message,
                "data": dict(event.data),
                "created_at": event.at,
                "request_id": event.request_id,
            },
        )
        key = inserted.inserted_primary_key  # RETURNING on PostgreSQL, lastrowid on SQLite
        assert key is not None
        return int(key[0])

    def events(self, app_id: str, page: Page) -> list[Event]:
        """The events of the app with id `app_id` (never another app's that had its name)."""
        query = select(t.events).where(t.events.c.app_id == app_id)
        order = t.events.c.seq.desc() if page.descending else t.events.c.seq
        rows = self.conn.execute(query.order_by(order).limit(page.max))
        return [
            Event(
                kind=m["kind"],
                user=m["user_name"],
                app=m["app_name"],
                text=m["text"],
                message=m["message"],
                at=as_utc(m["created_at"]),
                data=dict(m["data"] or {}),
                request_id=m["request_id"],
                app_id=m["app_id"],
            )
            for m in (row._mapping for row in rows)
        ]
