"""Password hashing with bcrypt: slow on purpose, salted, and constant-time to check."""

from __future__ import annotations

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
    """Tell whether a password matches a stored hash (never for users without a password)."""
    if not hashed:
        return False
    import bcrypt

    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False
