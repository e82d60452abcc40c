"""The engine: connecting, and what each dialect needs configured on its connections.

SQLite gets WAL, foreign keys and an explicit BEGIN (BEGIN IMMEDIATE for writers, so they take
the write lock early); PostgreSQL gets a cheap liveness check when a connection is checked out.
"""

from __future__ import annotations

import contextlib
import os
import select as select_module
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry


def connect(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and explicit BEGIN handling, and its
    files are private (`private_sqlite_files`)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        private_sqlite_files(engine.url.database)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    _configure_postgres(engine)
    return engine


def private_sqlite_files(database: str | None) -> None:
    """Make an SQLite database readable by this user only: the file is created 0600 before
    SQLite opens it, and an existing one (with its `-wal` and `-shm`) is made 0600. SQLite
    creates its `-wal`, `-shm` and journal files with the database file's mode, so those it
    makes later are private too. It holds password hashes, the audit trail and (encrypted)
    secrets."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite will say so, with its own message
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            info = name.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            name.chmod(info.st_mode & 0o700)


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
