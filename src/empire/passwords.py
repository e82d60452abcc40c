"""Password hashing with bcrypt: slow on purpose, salted, and constant-time to check.

Checking a password costs one bcrypt hash whether the user exists or not (a user without a
password, or no user at all, is checked against a dummy hash of the same cost), so how long a
login takes tells nothing about which user names exist.
"""

from __future__ import annotations

import functools

from empire.errors import Invalid

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    """Return the bcrypt hash of a password, or raise Invalid when it is too weak."""
    if len(password) < MIN_LENGTH:
        raise Invalid(f"the password is too short: use at least {MIN_LENGTH} characters")
    if len(password.encode()) > 72:
        raise Invalid("the password is too long: bcrypt uses at most 72 bytes")
    import bcrypt  # on first use: API tokens, not passwords, authenticate most requests

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(password: str, hashed: str | None) -> bool:
    """Tell whether a password matches a stored hash; never for users without a password,
    whose check costs what a real one does."""
    import bcrypt

    try:
        matches = bcrypt.checkpw(password.encode(), (hashed or _dummy()).encode())
    except ValueError:  # a malformed stored hash, or a password bcrypt cannot take
        return False
    return matches and bool(hashed)


@functools.cache
def _dummy() -> str:
    """A hash of the cost `hash_password` uses, of a password nobody knows."""
    import secrets

    import bcrypt

    return bcrypt.hashpw(secrets.token_bytes(32).hex().encode(), bcrypt.gensalt()).decode()
