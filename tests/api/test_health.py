"""GET /health checks the database and its schema revision; when the database is gone it and
every other route answer 503 in the error shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.api_support import error
from empire.store import migrate
from support.services import PostgresCluster
from support.stack import Stack, make_stack


def test_health_ok(stack: Stack) -> None:
    with TestClient(stack.api) as anonymous:
        response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["request-id"]


def test_health_when_the_sqlite_file_is_gone(tmp_path: Path, stack: Stack) -> None:
    stack.store.engine.dispose()
    for path in tmp_path.glob("empire.db*"):
        path.unlink()
    with TestClient(stack.api, raise_server_exceptions=False) as anonymous:
        response = anonymous.get("/health")
        error(
            response,
            503,
            "unavailable",
            "the database is unavailable (no such table: alembic_version); try again shortly",
        )
        # authenticated routes cannot check the token: 503 too, not 401 nor 500
        authed = anonymous.get("/apps", headers={"Authorization": f"Bearer {stack.token}"})
        error(authed, 503, "unavailable")


def test_health_at_the_wrong_schema_revision(stack: Stack) -> None:
    with stack.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
    with TestClient(stack.api) as anonymous:
        response = anonymous.get("/health")
    error(
        response,
        503,
        "unavailable",
        f"expected database schema to be at revision {migrate.head()}, "
        "but it is at 0000: run `empire migrate`",
    )


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PostgresCluster]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.postgres
def test_health_follows_a_postgresql_that_stops_and_comes_back(
    tmp_path: Path, private_postgres: PostgresCluster
) -> None:
    stack = make_stack(tmp_path, database_url=private_postgres.url)
    with TestClient(stack.api, raise_server_exceptions=False) as anonymous:
        headers = {"Authorization": f"Bearer {stack.token}"}
        assert anonymous.get("/health").status_code == 200
        assert anonymous.post("/apps", json={"name": "acme-inc"}, headers=headers).status_code == (
            201
        )
        private_postgres.stop()
        body = error(anonymous.get("/health"), 503, "unavailable")
        assert body["message"].startswith("the database is unavailable (")
        assert body["message"].endswith("); try again shortly")
        error(anonymous.get("/apps", headers=headers), 503, "unavailable")
        private_postgres.start()
        assert anonymous.get("/health").status_code == 200
        apps = anonymous.get("/apps", headers=headers).json()
        assert [a["name"] for a in apps] == ["acme-inc"]
    stack.store.engine.dispose()
