"""The audit trail: every write's event kept in the store, listed by `emp audit`.

The store is also the webhooks' outbox: with the event, in the same transaction, one delivery
row per configured URL is inserted (`empire.webhooks.Dispatcher` sends them). An event is thus
delivered if and only if it was recorded, even when Empire stops right after the write.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from empire.events import Delivery, Event, event_json
from empire.store import Store, Transaction


class StoreSink:
    """Records each event in the store, with its webhook deliveries, in a transaction of its
    own."""

    def __init__(self, store: Store, webhooks: Sequence[str] = ()) -> None:
        self.store = store
        self.webhooks = tuple(webhooks)

    def publish(self, event: Event) -> None:
        with self.store.write() as tx:
            self.record(tx, event)

    def record(self, tx: Transaction, event: Event) -> None:
        """Record the event, and its deliveries, in the transaction of the write it records."""
        seq = tx.insert_event(event)
        if not self.webhooks:
            return
        body = webhook_body(event, seq)
        for url in self.webhooks:
            tx.insert_delivery(
                Delivery(
                    id=str(uuid.uuid4()),
                    event_seq=seq,
                    url=url,
                    body=body,
                    state="pending",
                    attempts=0,
                    last_error="",
                    next_attempt_at=event.at,
                    created_at=event.at,
                    updated_at=event.at,
                )
            )


def webhook_body(event: Event, seq: int) -> str:
    """The JSON document a webhook receives: the event and its place in the audit trail."""
    return json.dumps({"seq": seq, **event_json(event)}, default=str, separators=(",", ":"))
