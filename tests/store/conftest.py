from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from empire.store import migrate
from empire.store.sql import SqlStore, connect


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a fresh schema-less PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empire.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    name = f"t_{abs(hash(request.node.nodeid)) % 10**12}"
    admin = connect(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore(connect(database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    yield store
    store.engine.dispose()


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[SqlStore]:
    """A store on the session's PostgreSQL server, with a small pool."""
    store = SqlStore(connect(postgres_url, pool_size=2), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    yield store
    store.engine.dispose()
