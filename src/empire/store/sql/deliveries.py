"""The webhook outbox's queries: a mixin of `SqlTransaction`.

A delivery row is inserted in the transaction that stores its event (`StoreSink`), so an event
is delivered if and only if it was recorded. The dispatcher claims a due row by moving its
`next_attempt_at` past the attempt (a lease) and counting the attempt, in one conditional
UPDATE: two dispatchers never send the same attempt, and a row a crashed process had claimed
is due again when its lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from empire.events import Delivery
from empire.store import tables as t

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class DeliveriesMixin:
    """Outbox rows: insert with the event, claim when due, finish, list, requeue."""

    conn: Connection

    def insert_delivery(self, delivery: Delivery) -> None:
        self.conn.execute(
            t.deliveries.insert().values(
                id=delivery.id,
                event_seq=delivery.event_seq,
                url=delivery.url,
                body=delivery.body,
                state=delivery.state,
                attempts=delivery.attempts,
                last_error=delivery.last_error,
                next_attempt_at=_bind(delivery.next_attempt_at),
                created_at=_bind(delivery.created_at),
                updated_at=_bind(delivery.updated_at),
            )
        )

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        """Return pending deliveries due at `now`, the longest waiting first."""
        d = t.deliveries.c
        query = (
            select(t.deliveries)
            .where(d.state == PENDING, d.next_attempt_at <= _bind(now))
            .order_by(d.next_attempt_at, d.created_at, d.id)
            .limit(limit)
        )
        return [_delivery(row._mapping) for row in self.conn.execute(query)]

    def next_delivery_due(self) -> datetime | None:
        """Return when the next pending delivery is due (None when nothing is pending)."""
        d = t.deliveries.c
        query = select(func.min(d.next_attempt_at)).where(d.state == PENDING)
        return _utc(self.conn.execute(query).scalar())

    def pending_deliveries(self) -> int:
        """How many deliveries are pending (due or waiting for their retry)."""
        d = t.deliveries.c
        query = select(func.count()).select_from(t.deliveries).where(d.state == PENDING)
        return int(self.conn.execute(query).scalar() or 0)

    def claim_delivery(self, delivery_id: str, now: datetime, until: datetime) -> Delivery | None:
        """Take a due delivery for one attempt (counted now), leased until `until`.

        Returns None when it is no longer due: another dispatcher took it, or it was finished.
        """
        d = t.deliveries.c
        claimed = self.conn.execute(
            t.deliveries.update()
            .where(d.id == delivery_id, d.state == PENDING, d.next_attempt_at <= _bind(now))
            .values(attempts=d.attempts + 1, next_attempt_at=_bind(until), updated_at=_bind(now))
        )
        if not claimed.rowcount:
            return None
        return self.delivery(delivery_id)

    def finish_delivery(
        self,
        delivery_id: str,
        *,
        state: str,
        last_error: str,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None:
        """Record an attempt's outcome: delivered, failed for good, or pending until later."""
        self.conn.execute(
            t.deliveries.update()
            .where(t.deliveries.c.id == delivery_id)
            .values(
                state=state,
                last_error=last_error,
                next_attempt_at=_bind(next_attempt_at),
                updated_at=_bind(at),
            )
        )

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self.conn.execute(
            select(t.deliveries).where(t.deliveries.c.id == delivery_id)
        ).first()
        return _delivery(row._mapping) if row else None

    def deliveries(self, state: str | None, limit: int) -> list[Delivery]:
        """Return deliveries (in one state, or all), the newest first."""
        d = t.deliveries.c
        query = select(t.deliveries)
        if state is not None:
            query = query.where(d.state == state)
        query = query.order_by(d.created_at.desc(), d.event_seq.desc(), d.url).limit(limit)
        return [_delivery(row._mapping) for row in self.conn.execute(query)]

    def requeue_deliveries(self, ids: Sequence[str] | None, now: datetime) -> int:
        """Make deliveries (by id, or every failed one) pending and due now, with fresh
        attempts; return how many."""
        d = t.deliveries.c
        update = t.deliveries.update()
        update = (
            update.where(d.id.in_(list(ids)))
            if ids is not None
            else update.where(d.state == FAILED)
        )
        result = self.conn.execute(
            update.values(
                state=PENDING, attempts=0, next_attempt_at=_bind(now), updated_at=_bind(now)
            )
        )
        return int(result.rowcount)


def _bind(value: datetime | None) -> datetime | None:
    """Times are stored in UTC (SQLite compares them as text)."""
    return value.astimezone(UTC) if value is not None else None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _delivery(m: Any) -> Delivery:
    created = _utc(m["created_at"])
    updated = _utc(m["updated_at"])
    assert created is not None and updated is not None
    return Delivery(
        id=m["id"],
        event_seq=int(m["event_seq"]),
        url=m["url"],
        body=m["body"],
        state=m["state"],
        attempts=int(m["attempts"]),
        last_error=m["last_error"],
        next_attempt_at=_utc(m["next_attempt_at"]),
        created_at=created,
        updated_at=updated,
    )
