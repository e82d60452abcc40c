"""Pure rules for formations and release descriptions."""

from __future__ import annotations

import dataclasses
import hashlib
import re

from empire.errors import Invalid
from empire.model import Formation, User

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{2,29}$")
TEAM_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# More instances of one process than any backend takes from one app (Heroku allows 100).
MAX_QUANTITY = 1000
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


def check_app_name(name: str) -> None:
    """Raise Invalid unless `name` is a valid app name."""
    if not APP_NAME.match(name):
        raise Invalid(
            f"invalid app name {name!r}: use 3 to 30 characters, lowercase letters, digits and "
            "dashes, starting with a letter (e.g. acme-inc)"
        )


def check_hostname(hostname: str) -> None:
    """Raise Invalid unless `hostname` is a valid DNS name."""
    if not HOSTNAME.match(hostname):
        raise Invalid(
            f"invalid hostname {hostname!r}: use a DNS name such as www.example.com "
            "(lowercase letters, digits, dashes and dots)"
        )


def merge(procfile: Formation, previous: Formation | None) -> Formation:
    """Merge a new Procfile's processes with the previous release's formation.

    Existing processes keep their quantity and size; a new `web` starts with one instance,
    other new processes with none; processes gone from the Procfile are dropped.
    """
    merged: Formation = {}
    for name, process in procfile.items():
        before = (previous or {}).get(name)
        if before is not None:
            merged[name] = dataclasses.replace(process, quantity=before.quantity, size=before.size)
        else:
            quantity = 1 if name == "web" and not process.noservice and not process.cron else 0
            merged[name] = dataclasses.replace(process, quantity=quantity)
    return merged


def with_user(description: str, user: User | None, message: str | None) -> str:
    """Append Empire's ` (user)` or ` (user: 'message')` suffix."""
    if user is None:
        return description
    if message:
        return f"{description} ({user.name}: '{message}')"
    return f"{description} ({user.name})"


def config_description(changes: dict[str, str | None]) -> str:
    """Describe a config change as Empire does: `Set A, B config vars`, `Unset C config var`."""
    keys = sorted(changes)
    verb = "Unset" if any(value is None for value in changes.values()) else "Set"
    noun = "config var" if len(keys) == 1 else "config vars"
    return f"{verb} {', '.join(keys)} {noun}"


def check_certificate(cert: str) -> None:
    """Raise Invalid unless `cert` is a name or ARN, or PEM text with a chain and its key."""
    if not cert.strip():
        raise Invalid("no certificate given: give a name, an ARN, or PEM files (cert and key)")
    if "-----BEGIN" not in cert:
        return
    if "-----BEGIN CERTIFICATE-----" not in cert or "PRIVATE KEY-----" not in cert:
        raise Invalid(
            "the PEM text needs a certificate chain and its private key: "
            "emp cert-attach cert.pem key.pem"
        )


def describe_certificate(cert: str) -> str:
    """Return how a certificate is shown: names and ARNs as they are, PEM by fingerprint."""
    if "-----BEGIN" not in cert:
        return cert
    return "pem:" + hashlib.sha256(cert.encode()).hexdigest()[:16]
