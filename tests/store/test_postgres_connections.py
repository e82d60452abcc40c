"""PostgreSQL connections: reads run outside transactions, and a connection the server closed
is replaced when it is taken from the pool instead of failing the request."""

from __future__ import annotations

from sqlalchemy import text

from empire.model import Page
from empire.store.sql import SqlStore
from support.backends import end_backend


def _backend_pid(store: SqlStore) -> int:
    with store.read() as tx:
        return int(tx.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_the_server_ended_is_replaced_at_checkout(pg_store: SqlStore) -> None:
    before = _backend_pid(pg_store)  # the pool now holds this idle connection
    end_backend(str(pg_store.engine.url), before)  # as a server restart would
    with pg_store.read() as tx:  # no 503: the dead connection is noticed before it is used
        assert tx.apps(Page(field="name", max=10)) == []
    assert _backend_pid(pg_store) != before


def test_reads_run_outside_a_transaction_and_writes_inside_one(pg_store: SqlStore) -> None:
    status = "SELECT now() = statement_timestamp()"  # true only outside an explicit transaction
    with pg_store.read() as tx:
        tx.conn.execute(text("SELECT pg_sleep(0.01)"))
        assert tx.conn.execute(text(status)).scalar_one() is True
    with pg_store.write() as tx:
        tx.conn.execute(text("SELECT pg_sleep(0.01)"))
        assert tx.conn.execute(text(status)).scalar_one() is False
