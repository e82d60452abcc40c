"""The role checks again on a real PostgreSQL: the route-table walk, visible apps, grants."""

from __future__ import annotations

import pytest

from api.test_on_postgres import pg_template, stack  # noqa: F401  (the PostgreSQL stack)
from api.test_roles import (  # noqa: F401  (collected again here, on PostgreSQL)
    bob,
    test_collaborators_are_heroku_collaborators_with_a_role_and_a_team,
    test_every_route_refuses_the_role_below_and_accepts_the_role,
    test_teams_over_http,
    test_the_app_list_shows_only_the_apps_one_can_view,
)
from support.stack import Stack

pytestmark = pytest.mark.slow


def test_this_module_runs_on_postgresql(stack: Stack) -> None:  # noqa: F811
    assert stack.store.engine.dialect.name == "postgresql"
