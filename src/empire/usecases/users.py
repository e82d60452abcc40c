"""Users and API tokens."""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import timedelta

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
from empire.passwords import check_password, hash_password
from empire.store import Transaction
from empire.usecases.base import TOKEN_CACHE_SECONDS, Base, new_id

SESSION_PREFIX = "session."  # a dashboard session's secret (no API token has a dot)
_PROCESS_KEY = secrets.token_hex(32)  # CSRF proofs when the facade has no secret key (tests)


def is_session(secret: str) -> bool:
    """Whether a secret is a dashboard session's, which the API never takes as a token."""
    return secret.startswith(SESSION_PREFIX)


class Users(Base):
    """Create users, issue tokens, authenticate requests."""

    # -- users and tokens -------------------------------------------------------------------

    def cached_user(self, token: str) -> User | None:
        """Return the token's user if a fresh cache entry vouches for it, else None (ask)."""
        cached = self._tokens.get(self._digest(token))
        if cached is None or cached[0] < time.monotonic():
            return None
        found = cached[1]
        if found.expires_at is not None and found.expires_at <= self.clock():
            return None
        return found.user

    def authenticate(self, token: str) -> User:
        """Return the user a token belongs to, or raise Unauthorized. Lookups are cached for
        a few seconds (a bounded number of them: see `Base`)."""
        digest = self._digest(token)
        now = time.monotonic()
        cached = self._tokens.get(digest)
        found: Token | None = cached[1] if cached is not None and cached[0] >= now else None
        if found is None:
            unknown_until = self._unknown_tokens.get(digest)
            if unknown_until is None or unknown_until < now:
                with self.store.read() as tx:
                    found = tx.token(digest)
                until = time.monotonic() + TOKEN_CACHE_SECONDS
                if found is None:
                    self._tokens.pop(digest)
                    self._unknown_tokens.put(digest, until)
                else:
                    self._unknown_tokens.pop(digest)
                    self._tokens.put(digest, (until, found))
        if found is None or (found.expires_at is not None and found.expires_at <= self.clock()):
            raise Unauthorized(
                "Request not authenticated, API token is missing, invalid or expired"
            )
        return found.user

    def create_user(self, name: str, *, admin: bool = False, email: str = "") -> tuple[User, str]:
        """Create a user and a first API token; return both (the token only this once)."""
        if not rules.APP_NAME.match(name.lower()) and not name.replace(".", "").isalnum():
            raise Invalid(f"invalid user name {name!r}: use letters, digits, dots and dashes")
        user = User(id=new_id(), name=name, email=email or f"{name}@empire.local", admin=admin)
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

    def _issue_token(
        self,
        tx: Transaction,
        user: User,
        description: str,
        ttl: timedelta | None = None,
        prefix: str = "",
    ) -> str:
        """A new token for `user`, expiring after `ttl` or the server's token TTL, whichever
        comes first (neither: never)."""
        secret = prefix + secrets.token_urlsafe(32)
        now = self.clock()
        ttls = [t for t in (ttl, self.token_ttl) if t]
        expires = now + min(ttls) if ttls else None
        tx.insert_token(Token(new_id(), user, description, now, expires), self._digest(secret))
        return secret

    def users(self) -> list[User]:
        """List users."""
        with self.store.read() as tx:
            return tx.users()

    def set_password(self, name: str, password: str) -> None:
        """Set a user's password (hashed with bcrypt), so `emp login` works for them."""
        hashed = hash_password(password)
        with self.store.write() as tx:
            user = tx.user(name)
            if user is None:
                raise NotFound(f"no user named {name}", resource="user")
            tx.set_password(user.id, hashed)

    def login(
        self,
        name: str,
        password: str,
        description: str = "",
        ttl: timedelta | None = None,
        *,
        session: bool = False,
    ) -> tuple[Token, str]:
        """Check a user's password and issue a new token (expiring after `ttl` at the latest);
        return it and its secret. A dashboard `session`'s secret starts with SESSION_PREFIX:
        the API refuses it as a token (`is_session`), so a stolen cookie is no API key."""
        with self.store.read() as tx:
            found = tx.password_hash(name)
        # Checked even for an unknown user (against a dummy hash): the same cost either way.
        matches = check_password(password, found[1] if found is not None else None)
        if found is None or not matches:
            # One message for an unknown user, a disabled one and a wrong password.
            raise Unauthorized("Invalid credentials provided: check your user name and password")
        user = found[0]
        with self.store.write() as tx:
            secret = self._issue_token(
                tx, user, description or "emp login", ttl, SESSION_PREFIX if session else ""
            )
            token = tx.token(self._digest(secret))
        assert token is not None
        return token, secret

    def disable_user(self, name: str) -> None:
        """Disable a user: their tokens stop working at once and they cannot log in."""
        with self.store.write() as tx:
            user = tx.user(name)
            if user is None:
                raise NotFound(f"no user named {name}", resource="user")
            tx.disable_user(user.id)
        self._tokens.clear()
        self._unknown_tokens.clear()

    def tokens(self, user: User) -> list[Token]:
        """List a user's live tokens (their secrets are never stored)."""
        with self.store.read() as tx:
            return tx.tokens(user)

    def revoke_token(self, user: User, token_id: str) -> None:
        """Revoke one of the user's tokens; it stops working at once."""
        with self.store.write() as tx:
            if not tx.revoke_token(user.id, token_id, self.clock()):
                raise NotFound(f"{user.name} has no token {token_id}", resource="token")
        self._tokens.clear()
        self._unknown_tokens.clear()

    def csrf_proof(self, secret: str) -> str:
        """The CSRF token of the dashboard session whose secret this is: an HMAC under the
        server's secret key, so holding the cookie is not enough to make it."""
        key = (self._token_key or _PROCESS_KEY).encode()
        return hmac.new(key, b"empire-dashboard-csrf:" + secret.encode(), "sha256").hexdigest()

    def sign_out(self, secret: str) -> None:
        """Revoke the token whose secret this is (the dashboard's sign-out); nothing if it is
        unknown or already revoked."""
        with self.store.write() as tx:
            token = tx.token(self._digest(secret))
            if token is not None:
                tx.revoke_token(token.user.id, token.id, self.clock())
        self._tokens.clear()
        self._unknown_tokens.clear()
