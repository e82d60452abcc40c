"""API tokens are stored as HMAC-SHA256 under EMPIRE_SECRET_KEY: a stolen database holds no
usable token, and another key (a rotation) invalidates every token."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from sqlalchemy import select

from empire.core import Empire
from empire.errors import Unauthorized
from empire.secrets import generate_key
from empire.settings import Settings
from empire.store import tables as t
from empire.wiring import build_empire
from support.stack import Stack, make_stack

KEY = generate_key()


def stored_hashes(stack: Stack) -> set[str]:
    with stack.store.engine.connect() as conn:
        return {row.token_hash for row in conn.execute(select(t.tokens.c.token_hash))}


def facade(stack: Stack, tmp_path: Path, **env: str) -> Empire:
    """Another process on the same database (say `empire users create` next to the server)."""
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_SCHEDULER": "fake", **env}
    )
    return build_empire(settings, store=stack.store, scheduler=stack.scheduler, images=stack.images)


def test_tokens_are_stored_as_an_hmac_under_the_secret_key(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, env={"EMPIRE_SECRET_KEY": KEY})
    keyed = hmac.new(KEY.encode(), stack.token.encode(), hashlib.sha256).hexdigest()
    assert stored_hashes(stack) == {keyed}
    assert hashlib.sha256(stack.token.encode()).hexdigest() not in stored_hashes(stack)
    assert stack.empire.authenticate(stack.token) == stack.user
    assert stack.empire.cached_user(stack.token) == stack.user  # the cache keeps working
    second = stack.empire.create_token("alice", "ci")
    assert stack.empire.authenticate(second) == stack.user


def test_processes_sharing_the_key_share_the_tokens(tmp_path: Path) -> None:
    """On loopback the key is made once in the data dir, so the server accepts the token
    `empire users create` printed."""
    stack = make_stack(tmp_path)
    admin = facade(stack, tmp_path)
    _, token = admin.create_user("bob")
    assert stack.empire.authenticate(token).name == "bob"
    assert admin.authenticate(stack.token) == stack.user


def test_another_secret_key_invalidates_every_token(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, env={"EMPIRE_SECRET_KEY": KEY})
    rotated = facade(stack, tmp_path, EMPIRE_SECRET_KEY=generate_key())
    with pytest.raises(Unauthorized):
        rotated.authenticate(stack.token)
    with pytest.raises(Unauthorized):
        facade(stack, tmp_path).authenticate(stack.token)  # the local key is another key
    assert facade(stack, tmp_path, EMPIRE_SECRET_KEY=KEY).authenticate(stack.token) == stack.user
