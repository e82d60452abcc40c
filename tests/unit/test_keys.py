"""The hardening settings: EMPIRE_SECRET_KEY and EMPIRE_ENCRYPTION_KEY (made on loopback,
required elsewhere), TLS, webhooks, events on stdout."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from empire.errors import Invalid
from empire.secrets import SECRET_KEY_FILE, generate_key, local_key
from empire.settings import Settings
from empire.wiring import (
    build_cipher,
    build_secret_key,
    build_webhook_secret,
    check_keys,
)

SECRET = generate_key()
ENCRYPTION = generate_key()


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"EMPIRE_DATA_DIR": str(tmp_path), **env})


def test_on_loopback_a_missing_secret_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    s = settings(tmp_path)
    key = build_secret_key(s)
    assert len(key) >= 32
    assert build_secret_key(s) == key
    path = tmp_path / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert key != local_key(tmp_path)  # the encryption key is another file, another key
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_public_address_needs_both_keys_and_the_message_names_each(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as refused:
        check_keys(settings(tmp_path), "0.0.0.0")
    message = refused.value.message
    assert message.startswith(
        "EMPIRE_SECRET_KEY and EMPIRE_ENCRYPTION_KEY are not set: "
        "a server listening on 0.0.0.0 must be given them"
    )
    assert "`empire keys generate`" in message
    assert list(tmp_path.iterdir()) == []  # nothing was made up for it


def test_the_message_names_only_what_is_missing(tmp_path: Path) -> None:
    only_encryption = settings(tmp_path, EMPIRE_ENCRYPTION_KEY=ENCRYPTION, EMPIRE_HOST="10.1.2.3")
    with pytest.raises(Invalid, match=r"^EMPIRE_SECRET_KEY is not set: .* on 10\.1\.2\.3") as e:
        check_keys(only_encryption)
    assert "EMPIRE_ENCRYPTION_KEY" not in e.value.message
    with pytest.raises(Invalid, match=r"^EMPIRE_SECRET_KEY is not set"):
        build_secret_key(only_encryption)
    only_secret = settings(tmp_path, EMPIRE_SECRET_KEY=SECRET)
    with pytest.raises(Invalid, match=r"^EMPIRE_ENCRYPTION_KEY is not set: .* on 0\.0\.0\.0"):
        build_cipher(only_secret, "0.0.0.0")
    both = settings(tmp_path, EMPIRE_SECRET_KEY=SECRET, EMPIRE_ENCRYPTION_KEY=ENCRYPTION)
    check_keys(both, "0.0.0.0")
    assert build_secret_key(both, "0.0.0.0") == SECRET


def test_keys_made_on_loopback_are_not_a_default_for_a_public_address(tmp_path: Path) -> None:
    """The keys a loopback run left in the data dir are its own: a public server must be
    given keys someone chose, so it refuses to start with them alone."""
    local = settings(tmp_path)
    build_secret_key(local)
    build_cipher(local)
    assert {p.name for p in tmp_path.iterdir()} == {"secret.key", "encryption.key"}
    with pytest.raises(Invalid, match="EMPIRE_SECRET_KEY and EMPIRE_ENCRYPTION_KEY are not set"):
        check_keys(local, "192.168.1.10")
    with pytest.raises(Invalid, match="EMPIRE_SECRET_KEY is not set"):
        build_secret_key(local, "192.168.1.10")


def test_a_short_secret_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(Invalid) as refused:
        settings(tmp_path, EMPIRE_SECRET_KEY="hunter2-is-not-a-key")
    assert "EMPIRE_SECRET_KEY is too short" in refused.value.message
    assert "hunter2" not in refused.value.message


def test_the_webhook_secret_is_given_or_derived_from_the_secret_key(tmp_path: Path) -> None:
    derived = build_webhook_secret(settings(tmp_path, EMPIRE_SECRET_KEY=SECRET))
    assert derived != SECRET and len(derived) == 64
    assert build_webhook_secret(settings(tmp_path, EMPIRE_SECRET_KEY=SECRET)) == derived
    given = settings(tmp_path, EMPIRE_SECRET_KEY=SECRET, EMPIRE_WEBHOOK_SECRET="shared")
    assert build_webhook_secret(given) == "shared"


def test_webhook_settings(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        EMPIRE_WEBHOOKS="https://hooks.example.com/empire, http://127.0.0.1:9000/x",
        EMPIRE_WEBHOOK_ATTEMPTS="3",
        EMPIRE_WEBHOOK_BACKOFF_SECONDS="0.05",
    )
    assert s.webhooks == ("https://hooks.example.com/empire", "http://127.0.0.1:9000/x")
    assert (s.webhook_attempts, s.webhook_backoff, s.webhook_secret) == (3, 0.05, None)
    defaults = settings(tmp_path)
    assert (defaults.webhooks, defaults.webhook_attempts, defaults.webhook_backoff) == ((), 8, 1)
    with pytest.raises(Invalid) as refused:
        settings(
            tmp_path,
            EMPIRE_WEBHOOKS="https://ok.example.com ftp://user:pw@files.example.com",
            EMPIRE_WEBHOOK_ATTEMPTS="0",
            EMPIRE_WEBHOOK_BACKOFF_SECONDS="soon",
        )
    message = refused.value.message
    assert "EMPIRE_WEBHOOKS: URL 2 is not an http:// or https:// URL" in message
    assert "pw@" not in message  # URLs may carry credentials: they are not echoed
    assert "EMPIRE_WEBHOOK_ATTEMPTS='0'" in message
    assert "EMPIRE_WEBHOOK_BACKOFF_SECONDS='soon'" in message


def test_tls_needs_both_a_certificate_and_a_key(tmp_path: Path) -> None:
    assert not settings(tmp_path).tls
    both = settings(tmp_path, EMPIRE_TLS_CERT="/etc/empire/cert.pem", EMPIRE_TLS_KEY="/k.pem")
    assert both.tls
    assert (both.tls_cert, both.tls_key) == (Path("/etc/empire/cert.pem"), Path("/k.pem"))
    with pytest.raises(Invalid, match="EMPIRE_TLS_CERT is set but EMPIRE_TLS_KEY is not"):
        settings(tmp_path, EMPIRE_TLS_CERT="/etc/empire/cert.pem")
    with pytest.raises(Invalid, match="EMPIRE_TLS_KEY is set but EMPIRE_TLS_CERT is not"):
        settings(tmp_path, EMPIRE_TLS_KEY="/k.pem")


def test_events_on_stdout_are_on_unless_turned_off(tmp_path: Path) -> None:
    assert settings(tmp_path).events_stdout
    assert settings(tmp_path, EMPIRE_EVENTS_STDOUT="").events_stdout
    assert not settings(tmp_path, EMPIRE_EVENTS_STDOUT="false").events_stdout
    assert not settings(tmp_path, EMPIRE_EVENTS_STDOUT="0").events_stdout
    with pytest.raises(Invalid, match="EMPIRE_EVENTS_STDOUT='maybe'"):
        settings(tmp_path, EMPIRE_EVENTS_STDOUT="maybe")


def test_settings_do_not_show_their_secrets(tmp_path: Path) -> None:
    s = settings(
        tmp_path,
        EMPIRE_SECRET_KEY=SECRET,
        EMPIRE_ENCRYPTION_KEY=ENCRYPTION,
        EMPIRE_WEBHOOK_SECRET="webhook-shared-secret",
    )
    shown = repr(s)
    for secret in (SECRET, ENCRYPTION, "webhook-shared-secret"):
        assert secret not in shown
