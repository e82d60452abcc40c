"""The drains table on SQLite and PostgreSQL: an app's drains, every live app's, unique
tokens, and drains of a destroyed app left out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from empire.drains.rules import Drain
from empire.store.sql import SqlStore
from store.test_store import NOW, app


def test_drains_round_trip(store: SqlStore) -> None:
    acme, other = app("acme-inc"), app("other")
    first = Drain("d1", acme.id, "syslog+tls://logs.example.com:6514", "d.1", NOW, NOW)
    later = NOW + timedelta(seconds=1)
    second = Drain("d2", acme.id, "https://u:p@logs.example.com/x", "d.2", later, later)
    third = Drain("d3", other.id, "syslog://10.0.0.5:514", "d.3", NOW, NOW)
    with store.write() as tx:
        tx.insert_app(acme)
        tx.insert_app(other)
        for drain in (second, first, third):
            tx.insert_drain(drain)
    with store.read() as tx:
        assert tx.drains(acme.id) == [first, second]
        assert tx.live_drains() == [("acme-inc", first), ("acme-inc", second), ("other", third)]
    with pytest.raises(IntegrityError), store.write() as tx:
        tx.insert_drain(Drain("d4", acme.id, "https://x.example.com/", "d.1", NOW, NOW))
    with store.write() as tx:
        tx.delete_drain("d1")
        tx.delete_app(other.id, NOW)
    with store.read() as tx:
        assert tx.live_drains() == [("acme-inc", second)]
        assert tx.drains(other.id) == [third]  # kept with the destroyed app's rows
