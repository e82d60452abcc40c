"""The webhook outbox's queries, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from empire.events import Delivery, Event
from empire.store import tables as t
from empire.store.sql import SqlStore

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def event(n: int) -> Event:
    return Event("create", "alice", f"app-{n}", f"alice created app-{n}", None, NOW)


def delivery(ident: str, seq: int, due: datetime = NOW) -> Delivery:
    return Delivery(
        id=ident,
        event_seq=seq,
        url="https://hooks.example.com/x",
        body=f'{{"seq": {seq}}}',
        state="pending",
        attempts=0,
        last_error="",
        next_attempt_at=due,
        created_at=NOW,
        updated_at=NOW,
    )


def test_the_seq_of_the_event_just_inserted(store: SqlStore) -> None:
    seqs = []
    for n in range(3):
        with store.write() as tx:
            seqs.append(tx.insert_event(event(n)))
            tx.insert_delivery(delivery(f"d{n}", seqs[-1]))
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with store.read() as tx:
        stored = tx.deliveries(None, 10)
    assert {(d.id, d.event_seq) for d in stored} == {(f"d{n}", seqs[n]) for n in range(3)}


def test_concurrent_writers_each_get_their_own_seq(store: SqlStore) -> None:
    got: dict[str, int] = {}

    def write(n: int) -> None:
        with store.write() as tx:
            got[f"app-{n}"] = tx.insert_event(event(n))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.engine.connect() as conn:
        stored = {row.app_name: row.seq for row in conn.execute(select(t.events))}
    assert got == stored


def test_claim_finish_and_requeue(store: SqlStore) -> None:
    with store.write() as tx:
        seq = tx.insert_event(event(1))
        tx.insert_delivery(delivery("due", seq))
        tx.insert_delivery(delivery("later", seq, NOW + timedelta(minutes=5)))
    with store.read() as tx:
        assert [d.id for d in tx.due_deliveries(NOW, 10)] == ["due"]
        assert tx.next_delivery_due() == NOW
    lease = NOW + timedelta(seconds=15)
    with store.write() as tx:
        claimed = tx.claim_delivery("due", NOW, lease)
        assert claimed is not None
        assert (claimed.attempts, claimed.next_attempt_at) == (1, lease)
        assert tx.claim_delivery("due", NOW, lease) is None  # leased
        assert tx.claim_delivery("later", NOW, lease) is None  # not due
    with store.read() as tx:
        assert tx.due_deliveries(NOW, 10) == []
        assert tx.next_delivery_due() == lease
    with store.write() as tx:
        tx.finish_delivery(
            "due", state="failed", last_error="HTTP 500", next_attempt_at=None, at=NOW
        )
    with store.read() as tx:
        (failed,) = tx.deliveries("failed", 10)
        assert (failed.id, failed.attempts, failed.last_error) == ("due", 1, "HTTP 500")
        assert tx.next_delivery_due() == NOW + timedelta(minutes=5)
    with store.write() as tx:
        assert tx.requeue_deliveries(None, NOW) == 1
        assert tx.requeue_deliveries(["nope"], NOW) == 0
    with store.read() as tx:
        requeued = tx.delivery("due")
        assert requeued is not None
        assert (requeued.state, requeued.attempts, requeued.next_attempt_at) == ("pending", 0, NOW)
        assert requeued.last_error == "HTTP 500"  # kept until it is delivered
        assert tx.delivery("nope") is None
