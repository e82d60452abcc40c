from __future__ import annotations

import stat
from pathlib import Path

import pytest

from empire.errors import Invalid, Unavailable
from empire.secrets import Cipher, generate_key, local_key


def test_config_vars_round_trip_encrypted() -> None:
    cipher = Cipher([generate_key()])
    stored = cipher.encrypt({"SECRET": "s3cret", "EMPTY": ""})
    assert set(stored) == {"fernet"} and "s3cret" not in stored["fernet"]
    assert cipher.decrypt(stored) == {"SECRET": "s3cret", "EMPTY": ""}
    assert cipher.decrypt({"PLAIN": "from before encryption"}) == {
        "PLAIN": "from before encryption"
    }


def test_rotation_needs_the_old_key_until_it_is_done() -> None:
    old, new = generate_key(), generate_key()
    stored = Cipher([old]).encrypt({"A": "1"})
    with pytest.raises(Unavailable, match="cannot be decrypted"):
        Cipher([new]).decrypt(stored)
    rotated = Cipher([new, old]).rotate(stored)
    assert Cipher([new]).decrypt(rotated) == {"A": "1"}


def test_bad_keys_are_refused_clearly() -> None:
    with pytest.raises(Invalid, match="empire keys generate"):
        Cipher(["not-a-key"])


def test_a_local_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    key = local_key(tmp_path)
    assert local_key(tmp_path) == key
    assert stat.S_IMODE((tmp_path / "encryption.key").stat().st_mode) == 0o600
