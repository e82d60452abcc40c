"""Reads run on the event loop (`SqlStore.run_reads`): the API's read-only use cases await their
database round trips there instead of waiting in a worker thread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from empire.model import App, Page
from empire.store.sql import SqlStore
from support.backends import end_backend

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _app(name: str) -> App:
    return App(id=f"{name:0>36}"[-36:], name=name, created_at=NOW, updated_at=NOW)


def test_reads_on_the_loop_see_committed_writes_and_may_not_write(store: SqlStore) -> None:
    with store.write() as tx:
        tx.insert_app(_app("acme"))

    def names() -> list[str]:
        with store.read() as tx:
            return [app.name for app in tx.apps(Page(field="name"))]

    def write() -> None:
        with store.write() as tx:
            tx.insert_app(_app("other"))

    assert asyncio.run(store.run_reads(names)) == ["acme"]
    with pytest.raises(RuntimeError, match="tried to write"):
        asyncio.run(store.run_reads(write))
    assert names() == ["acme"]  # in a thread, as before: nothing was written


def test_reads_on_the_loop_use_a_pool_of_their_own(store: SqlStore) -> None:
    def engine_of_a_read() -> object:
        with store.read() as tx:
            return tx.conn.engine

    on_loop = asyncio.run(store.run_reads(engine_of_a_read))
    assert engine_of_a_read() is store.engine
    assert on_loop is not store.engine  # never waits for a connection a thread holds


def test_a_read_waiting_on_postgres_leaves_the_loop_free(pg_store: SqlStore) -> None:
    order: list[str] = []

    def slow_read() -> None:
        with pg_store.read() as tx:
            order.append("query sent")
            tx.conn.execute(text("SELECT pg_sleep(0.3)"))
            order.append("query answered")

    async def meanwhile() -> None:
        while "query sent" not in order:
            await asyncio.sleep(0.01)
        order.append("loop ran another task")

    async def both() -> None:
        await asyncio.gather(pg_store.run_reads(slow_read), meanwhile())

    asyncio.run(both())
    assert order == ["query sent", "loop ran another task", "query answered"]


def test_a_loop_connection_the_server_ended_is_replaced(pg_store: SqlStore) -> None:
    def backend() -> int:
        with pg_store.read() as tx:
            return int(tx.conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    async def twice() -> tuple[int, int]:
        before = await pg_store.run_reads(backend)  # the loop pool now holds it, idle
        end_backend(str(pg_store.engine.url), before)  # as a server restart would
        return before, await pg_store.run_reads(backend)  # no 503: replaced at checkout

    before, after = asyncio.run(twice())
    assert after != before
