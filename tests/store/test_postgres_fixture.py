"""The session's PostgreSQL server is real, and survives a stop/start with its data."""

from __future__ import annotations

import sqlalchemy as sa

from support.services import PostgresCluster


def test_postgres_fixture_connects_and_restarts(
    postgres: PostgresCluster, postgres_url: str
) -> None:
    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            conn.execute(sa.text("create table fixture_probe (n int)"))
            conn.execute(sa.text("insert into fixture_probe values (42)"))

        postgres.stop()
        assert not postgres.running
        postgres.start()
        assert postgres.running

        with engine.begin() as conn:
            assert conn.execute(sa.text("select n from fixture_probe")).scalar_one() == 42
            conn.execute(sa.text("drop table fixture_probe"))
    finally:
        engine.dispose()
