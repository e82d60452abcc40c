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


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        # A cheaper pre-ping: an idle connection whose socket is readable was closed by the
        # server (it restarted, or ended the session). Checking costs a poll, not a round trip;
        # raising DisconnectionError makes the pool replace the connection.
        if dbapi_conn.closed or _readable(dbapi_conn.pgconn.socket):
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
