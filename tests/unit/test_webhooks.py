"""Webhook signatures (sign, verify) and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from empire.webhooks import backoff, default_jitter, derive_secret, sign, verify

SECRET = "whsec-0123456789abcdef0123456789abcdef"
BODY = b'{"seq":1,"kind":"create","user":"alice","app":"acme"}'
T = 1_795_000_000


def test_a_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, T)
    mac = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={mac}"
    assert verify(SECRET, BODY, header, now=T)
    assert verify(SECRET, BODY, header, tolerance=300, now=T + 299)


def test_a_tampered_body_is_refused() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, BODY.replace(b"acme", b"evil"), header, now=T)
    assert not verify(SECRET, BODY + b" ", header, now=T)


def test_a_tampered_signature_is_refused() -> None:
    header = sign(SECRET, BODY, T)
    digest = header.split("v1=")[1]
    flipped = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    assert not verify(SECRET, BODY, f"t={T},v1={flipped}", now=T)
    # The timestamp is signed too: moving it (to get past the tolerance) breaks the signature.
    assert not verify(SECRET, BODY, f"t={T + 60},v1={digest}", now=T + 60)
    for garbage in ("", "v1=" + digest, f"t={T}", f"t=soon,v1={digest}", "nonsense"):
        assert not verify(SECRET, BODY, garbage, now=T)


def test_a_wrong_secret_is_refused() -> None:
    header = sign("another-secret-another-secret-xx", BODY, T)
    assert not verify(SECRET, BODY, header, now=T)


def test_a_stale_or_future_timestamp_is_refused() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, BODY, header, tolerance=300, now=T + 301)
    assert not verify(SECRET, BODY, header, tolerance=300, now=T - 301)
    assert verify(SECRET, BODY, header, tolerance=3600, now=T + 301)


def test_any_of_several_signatures_may_match() -> None:
    """A sender rotating its secret may sign with both; a receiver accepts either."""
    old = sign("old-secret-old-secret-old-secret", BODY, T).split(",")[1]
    header = f"{sign(SECRET, BODY, T)},{old}"
    assert verify(SECRET, BODY, header, now=T)
    assert verify("old-secret-old-secret-old-secret", BODY, header, now=T)


def test_the_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff(n, 1.0, cap=60) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [backoff(n, 0.05) for n in (1, 2, 3)] == pytest.approx([0.05, 0.1, 0.2])


def test_jitter_adds_at_most_a_tenth() -> None:
    values = [default_jitter(10.0) for _ in range(200)]
    assert all(0.0 <= value <= 1.0 for value in values)
    assert len(set(values)) > 1


def test_the_default_secret_is_derived_from_the_secret_key_not_equal_to_it() -> None:
    key = "k" * 44
    assert derive_secret(key) == derive_secret(key) != key
    assert derive_secret(key) != derive_secret("j" * 44)
    assert key not in derive_secret(key)
