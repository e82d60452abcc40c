"""The API tests that touch SQL the most, again on a real PostgreSQL: Range windows and
Next-Range, SQL metacharacters in Range and path parameters, unknown and duplicate names.

The `stack` fixture below overrides the SQLite one for every test imported into this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from api.api_support import IMAGE, PROCFILE
from api.test_bad_input import (  # noqa: F401  (collected again here, on PostgreSQL)
    test_duplicate_app_name,
    test_odd_numbers_in_range,
    test_odd_numbers_in_release_paths,
    test_sql_in_path_parameters,
    test_sql_in_range,
    test_unknown_app_on_every_app_route,
    test_unknown_release,
)
from api.test_fuzz_regressions import (  # noqa: F401  (NUL was a 500 on PostgreSQL only)
    test_a_range_start_with_a_control_character_is_ignored,
    test_nul_in_a_body_string_is_a_bad_request,
    test_nul_in_a_path_is_a_bad_request,
    test_nul_in_the_commit_message_is_a_bad_request,
)
from api.test_ranges import (  # noqa: F401
    test_apps_page_by_id_and_descending,
    test_apps_pages_by_name,
    test_domains_every_item_once,
    test_release_range_forms,
    test_releases_page_by_id,
    test_releases_page_newest_first,
    test_the_next_range_a_client_echoes_back,
)
from empire.store import migrate
from empire.store.sql import connect
from support.services import PostgresCluster
from support.stack import Stack, make_stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_template(postgres: PostgresCluster) -> Iterator[str]:
    """A migrated, empty database each test's database is copied from (faster than
    migrating each one)."""
    name = f"api_template_{uuid.uuid4().hex[:8]}"
    engine = connect(postgres.create_database(name))
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    yield name
    postgres.drop_database(name)


@pytest.fixture
def stack(tmp_path: Path, postgres: PostgresCluster, pg_template: str) -> Iterator[Stack]:
    """A fresh database on the session's PostgreSQL server for each test."""
    name = f"api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.dsn("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(pg_template)
            )
        )
    stack = make_stack(tmp_path, database_url=postgres.url_for(name))
    stack.images.add(IMAGE, procfile=PROCFILE)
    try:
        yield stack
    finally:
        stack.store.engine.dispose()
        postgres.drop_database(name)


def test_this_module_runs_on_postgresql(stack: Stack) -> None:
    assert stack.store.engine.dialect.name == "postgresql"
