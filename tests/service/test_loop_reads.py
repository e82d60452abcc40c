"""Use cases the API runs on its event loop: only those marked `@store_reads`."""

from __future__ import annotations

import asyncio

import pytest

from support.stack import Stack


def test_only_store_reads_use_cases_run_on_the_event_loop(stack: Stack) -> None:
    empire = stack.empire
    empire.create("acme", by=stack.user)
    assert asyncio.run(empire.read(empire.app, "acme", by=stack.user)).name == "acme"
    with pytest.raises(TypeError, match="not a @store_reads use case"):
        asyncio.run(empire.read(empire.restart, "acme", by=stack.user))  # the scheduler blocks
