"""Users and API tokens."""

from __future__ import annotations

import secrets
import time

from empire import formation as rules
from empire.errors import (
    Invalid,
    NotFound,
    Unauthorized,
)
from empire.model import (
    Token,
    User,
)
from empire.store import Transaction
from empire.usecases.base import TOKEN_CACHE_SECONDS, Base, _new_id, hash_token


class Users(Base):
    """Create users, issue tokens, authenticate requests."""

    # -- users and tokens -------------------------------------------------------------------

    def authenticate(self, token: str) -> User:
        """Return the user a token belongs to, or raise Unauthorized."""
        digest = hash_token(token)
        cached = self._tokens.get(digest)
        if cached is None or cached[0] < time.monotonic():
            with self.store.read() as tx:
                found = tx.token(digest)
            cached = (time.monotonic() + TOKEN_CACHE_SECONDS, found)
            self._tokens[digest] = cached
        found = cached[1]
        if found is None or (found.expires_at is not None and found.expires_at <= self.clock()):
            raise Unauthorized(
                "Request not authenticated, API token is missing, invalid or expired"
            )
        return found.user

    def create_user(self, name: str, *, admin: bool = False, email: str = "") -> tuple[User, str]:
        """Create a user and a first API token; return both (the token only this once)."""
        if not rules.APP_NAME.match(name.lower()) and not name.replace(".", "").isalnum():
            raise Invalid(f"invalid user name {name!r}: use letters, digits, dots and dashes")
        user = User(id=_new_id(), name=name, email=email or f"{name}@empire.local", admin=admin)
        with self.store.write() as tx:
            tx.insert_user(user, self.clock())
            token = self._issue_token(tx, user, "created with the user")
        return user, token

    def create_token(self, name: str, description: str = "") -> str:
        """Issue a new API token for an existing user."""
        with self.store.write() as tx:
            user = tx.user(name)
            if user is None:
                raise NotFound(f"no user named {name}", resource="user")
            return self._issue_token(tx, user, description)

    def _issue_token(self, tx: Transaction, user: User, description: str) -> str:
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.token_ttl if self.token_ttl else None
        tx.insert_token(Token(_new_id(), user, description, now, expires), hash_token(secret))
        return secret

    def users(self) -> list[User]:
        """List users."""
        with self.store.read() as tx:
            return tx.users()
