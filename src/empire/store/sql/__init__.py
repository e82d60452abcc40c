"""SqlStore: the store on SQLAlchemy Core, for SQLite (WAL, embedded) and PostgreSQL.

Writes to one app are serialized: SQLite takes the single write lock at BEGIN IMMEDIATE,
PostgreSQL locks the app's row (`lock_app`). `UNIQUE(app_id, version)` is the backstop.

The store is split by concern: `engine` connects and configures the dialect, this module
runs transactions (`SqlStore`), `transaction` holds the queries (`SqlTransaction`, with
its mixins `access`, `users`, `events` and `deliveries`), `statements`
the statements built once at import, `views` the reads that answer a request in one
statement, and `rows` the row mapping.

Reads the API runs on its event loop (`run_reads`) use an engine of their own: on PostgreSQL
psycopg's asyncio connections driven through SQLAlchemy's greenlet adapter, so the same
store code awaits its round trips instead of blocking a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.util.concurrency import greenlet_spawn, in_greenlet

from empire.errors import Unavailable
from empire.secrets import Cipher
from empire.store import migrate
from empire.store import tables as t
from empire.store.sql.engine import connect, loop_engine
from empire.store.sql.transaction import SqlTransaction

__all__ = ["SqlStore", "SqlTransaction", "connect"]
P = ParamSpec("P")
T = TypeVar("T")


class SqlStore:
    """The Store over an SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        expected_revision: str | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        self.engine = engine
        self.expected_revision = expected_revision
        self.cipher = cipher  # config vars and certificates are encrypted at rest when set
        self._postgres = engine.dialect.name == "postgresql"
        self._loop_engine: Engine | None = None  # made on the first `run_reads`
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop it serves

    async def run_reads(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn`, which only reads, on the event loop (see `Store.run_reads`).

        `fn` runs in a greenlet: the transactions it opens use the loop engine, whose
        PostgreSQL connections are psycopg's asyncio ones, and each round trip suspends the
        greenlet while the loop serves other requests. That costs no thread hop, which on a
        small machine is two wake-ups per request.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # the first read, or a new loop (tests start several)
            if self._loop_engine is not None and self._loop_engine is not self.engine:
                self._loop_engine.dispose(close=False)  # its connections belong to the old loop
            self._loop_engine, self._loop = loop_engine(self.engine), loop
        return await greenlet_spawn(partial(fn, *args, **kwargs))

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with self._transaction(write=True) as tx:
            yield tx

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[SqlTransaction]:
        tx = None
        engine = self.engine
        if self._loop_engine is not None and in_greenlet():  # inside `run_reads`
            if write:
                raise RuntimeError("a use case run on the event loop tried to write")
            engine = self._loop_engine
        try:
            with engine.connect() as conn:
                if write:
                    conn = conn.execution_options(empire_write=True)
                elif self._postgres and engine is self.engine:
                    # Reads run at READ COMMITTED, where each statement takes its own snapshot
                    # whether or not it is in a transaction: without one they save the BEGIN
                    # and COMMIT round trips.
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                with conn.begin():
                    tx = SqlTransaction(conn, postgres=self._postgres, cipher=self.cipher)
                    yield tx
        except OperationalError as exc:
            raise Unavailable(_unavailable(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable(_unavailable(exc)) from exc
            raise
        for callback in tx.committed:  # committed, and the connection is back in the pool
            callback()

    def rotate_config_keys(self) -> int:
        """Re-encrypt every stored config with the newest key; return how many rows."""
        assert self.cipher is not None, "rotation needs EMPIRE_ENCRYPTION_KEY"
        count = 0
        with self.engine.connect().execution_options(empire_write=True) as conn, conn.begin():
            for config_id, stored in conn.execute(select(t.configs.c.id, t.configs.c.vars)):
                rotated = self.cipher.rotate(stored)
                conn.execute(
                    t.configs.update().where(t.configs.c.id == config_id).values(vars=rotated)
                )
                count += 1
        return count

    def rotate_cert_keys(self) -> int:
        """Re-encrypt every app's certificates with the newest key (plain ones, from before
        they were encrypted, get encrypted); return how many apps had some."""
        assert self.cipher is not None, "rotation needs EMPIRE_ENCRYPTION_KEY"
        count = 0
        with self.engine.connect().execution_options(empire_write=True) as conn, conn.begin():
            for app_id, stored in conn.execute(select(t.apps.c.id, t.apps.c.certs)):
                if not stored:
                    continue
                rotated = self.cipher.rotate(stored, "certificates")
                conn.execute(t.apps.update().where(t.apps.c.id == app_id).values(certs=rotated))
                count += 1
        return count

    def migrate(self) -> None:
        """Migrate the database to the newest schema, with this store's cipher for the
        migrations that encrypt data at rest."""
        migrate.upgrade(self.engine, cipher=self.cipher)

    def check(self) -> None:
        """Raise Unavailable unless the database answers at the expected schema revision."""
        try:
            with self.engine.connect() as conn:
                revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DBAPIError as exc:
            raise Unavailable(_unavailable(exc)) from exc
        if self.expected_revision and revision != self.expected_revision:
            raise Unavailable(
                f"expected database schema to be at revision {self.expected_revision}, "
                f"but it is at {revision}: run `empire migrate`"
            )


def _unavailable(exc: DBAPIError) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return f"the database is unavailable ({reason}); try again shortly"
