"""The engine: connecting, and what each dialect needs configured on its connections.

SQLite gets WAL, foreign keys and an explicit BEGIN (BEGIN IMMEDIATE for writers, so they take
the write lock early); PostgreSQL gets a cheap liveness check when a connection is checked out.
"""

from __future__ import annotations

import select as select_module
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry


def connect(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and explicit BEGIN handling."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    _configure_postgres(engine)
    return engine


def loop_engine(engine: Engine) -> Engine:
    """The engine for reads run on the event loop (`SqlStore.run_reads`), with a pool of its
    own: a read on the loop never waits for a connection a worker thread holds.

    PostgreSQL: psycopg's asyncio connections, driven through SQLAlchemy's greenlet adapter, so
    the same synchronous store code awaits each round trip on the loop. SQLite: plain
    connections (a read in WAL mode never waits for a writer; the file is local).
    """
    if engine.dialect.name == "postgresql":
        # The async dialect through the plain engine API: `create_async_engine` would also
        # import sqlalchemy.orm (6 MB resident) for the AsyncEngine wrapper, unused here.
        reads = create_engine(
            engine.url.set(drivername="postgresql+psycopg_async"),
            pool_size=5,
            max_overflow=10,
            isolation_level="AUTOCOMMIT",  # read-only: nothing to begin, commit or reset
            pool_reset_on_return=None,
        )
        _configure_postgres(reads)
        return reads
    if engine.url.database in (None, "", ":memory:"):
        return engine  # an in-memory database exists once, in the engine that holds it
    reads = create_engine(
        engine.url, connect_args={"check_same_thread": False}, pool_size=2, max_overflow=8
    )
    _configure_sqlite(reads)
    return reads


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        # A cheaper pre-ping: an idle connection whose socket is readable was closed by the
        # server (it restarted, or ended the session). Checking costs a poll, not a round trip;
        # raising DisconnectionError makes the pool replace the connection. (The loop engine's
        # connections are adapters around psycopg's: `driver_connection` is psycopg's.)
        conn = getattr(dbapi_conn, "driver_connection", dbapi_conn)
        if conn.closed or _readable(conn.pgconn.socket):
            raise DisconnectionError("the database closed this connection")


def _readable(fd: int) -> bool:
    poller = select_module.poll()
    poller.register(fd, select_module.POLLIN | select_module.POLLERR | select_module.POLLHUP)
    return bool(poller.poll(0))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock early.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("empire_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
