"""The token cache authentication reads first is bounded (issue 13, item 11): random tokens
cost a bounded number of entries, and never push out the tokens people use."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from empire.core import Empire
from empire.errors import Unauthorized
from support.stack import make_stack


def test_random_tokens_cost_bounded_entries_and_keep_the_known_ones(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    empire = Empire(
        store=stack.store, scheduler=stack.scheduler, images=stack.images, token_cache_size=50
    )
    users = [empire.create_user(f"user{n}") for n in range(50)]
    for user, token in users:
        assert empire.authenticate(token) == user
    for _ in range(2000):
        with pytest.raises(Unauthorized):
            empire.authenticate(secrets.token_urlsafe(32))
    assert len(empire._tokens) == 50  # every known token still cached
    assert len(empire._unknown_tokens) == 5  # a tenth of that for tokens that do not exist
    assert all(empire.cached_user(token) == user for user, token in users)
    # past the bound, the least recently used known tokens go first
    newer = [empire.create_user(f"newer{n}") for n in range(10)]
    for user, token in newer:
        assert empire.authenticate(token) == user
    assert len(empire._tokens) == 50
    assert [empire.cached_user(token) for _, token in users[:10]] == [None] * 10
    assert all(empire.cached_user(token) == user for user, token in users[10:] + newer)


def test_an_unknown_token_is_not_looked_up_again_for_a_while(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    token = secrets.token_urlsafe(32)
    with pytest.raises(Unauthorized):
        stack.empire.authenticate(token)
    lookups = 0
    read = stack.store.read

    def counting() -> object:
        nonlocal lookups
        lookups += 1
        return read()

    stack.store.read = counting  # type: ignore[method-assign]
    with pytest.raises(Unauthorized):
        stack.empire.authenticate(token)
    assert lookups == 0
