"""Secrets at rest: config vars and certificates encrypted with Fernet (AES-128-CBC +
HMAC-SHA256), with key rotation; and the data directory kept private.

Stored config vars (and an app's certificates) are `{"fernet": "<token>"}`; anything else is
read as plain values, so a database written before encryption was turned on stays readable and
`empire keys rotate` encrypts it. The first key encrypts; every key decrypts, so old keys can
be retired after a rotation.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from empire.errors import Invalid, Unavailable

KEY_FILE = "encryption.key"
SECRET_KEY_FILE = "secret.key"  # EMPIRE_SECRET_KEY's stand-in on loopback


class Cipher:
    """Encrypts and decrypts config vars with the configured keys."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise Invalid("no encryption key: set EMPIRE_ENCRYPTION_KEY")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise Invalid(
                "EMPIRE_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), "
                "comma-separated, newest first: make one with `empire keys generate`"
            ) from exc

    def encrypt(self, values: dict[str, str]) -> dict[str, str]:
        """Return the stored form of config vars."""
        return {"fernet": self._fernet.encrypt(json.dumps(values).encode()).decode()}

    def decrypt(self, stored: Any, what: str = "config vars") -> dict[str, str]:
        """Return config vars (or `what` else is stored so) from their stored form (encrypted
        or, from before, plain)."""
        if is_encrypted(stored):
            try:
                return dict(json.loads(self._fernet.decrypt(stored["fernet"].encode())))
            except InvalidToken as exc:
                raise Unavailable(
                    f"{what} cannot be decrypted with the configured EMPIRE_ENCRYPTION_KEY: "
                    "add the key they were written with (comma-separated, after the new one)"
                ) from exc
        return dict(stored or {})

    def rotate(self, stored: Any, what: str = "config vars") -> dict[str, str]:
        """Re-encrypt stored values with the newest key (plain ones get encrypted)."""
        return self.encrypt(self.decrypt(stored, what))


def is_encrypted(stored: Any) -> bool:
    """Whether a stored value is the encrypted form."""
    return isinstance(stored, dict) and set(stored) == {"fernet"}


def generate_key() -> str:
    """Return a new random key."""
    return Fernet.generate_key().decode()


def local_key(data_dir: Path, name: str = KEY_FILE) -> str:
    """Return the key kept in the data directory, creating it (mode 0600) the first time.

    Two processes starting at once (`empire server` and `empire users create`) agree on one
    key: the file is created exclusively, complete, under its final name.
    """
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    private_dir(data_dir)
    key = generate_key()
    staged = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    try:
        os.link(staged, path)  # fails if another process made it first: theirs wins
    except FileExistsError:
        return path.read_text().strip()
    finally:
        staged.unlink()
    return key


def private_dir(path: Path) -> Path:
    """Create the directory (and its parents) if missing, readable by this user only (0700);
    an existing one this user owns is made so too. The data directory holds the database, its
    keys and the router's state: nobody else on the machine has to read them."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        path.chmod(0o700)
    return path
