"""The audit trail: every write's event kept in the store, listed by `emp audit`."""

from __future__ import annotations

from empire.events import Event
from empire.store import Store


class StoreSink:
    """Records each event in the store, in a transaction of its own."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def publish(self, event: Event) -> None:
        with self.store.write() as tx:
            tx.insert_event(event)
