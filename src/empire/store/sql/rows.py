"""Row mapping: database rows to model objects and back, and formations to and from JSON."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from empire.errors import Unavailable
from empire.model import (
    App,
    Config,
    Domain,
    Exposure,
    Formation,
    HealthCheck,
    Outcome,
    Port,
    Process,
    Release,
    ReleaseSummary,
    Size,
    Slug,
    User,
)
from empire.secrets import Cipher, is_encrypted


def utc_or_none(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    result = utc_or_none(value)
    assert result is not None
    return result


def app_row(app: App, cipher: Cipher | None = None) -> dict[str, Any]:
    """An app's row; with a cipher its certificates are encrypted (they hold private keys)."""
    certs: dict[str, str] = dict(app.certs)
    return {
        "id": app.id,
        "name": app.name,
        "repo": app.repo,
        "exposure": app.exposure.value,
        "maintenance": app.maintenance,
        "certs": cipher.encrypt(certs) if cipher and certs else certs,
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    }


def _certs(stored: Any, cipher: Cipher | None) -> dict[str, str]:
    """An app's certificates from their stored form (encrypted or, from before, plain)."""
    if not stored:
        return {}
    if cipher is not None:
        return cipher.decrypt(stored, "certificates")
    if is_encrypted(stored):
        raise Unavailable(
            "the apps' certificates are encrypted and no EMPIRE_ENCRYPTION_KEY is configured: "
            "set it to the key they were written with"
        )
    return dict(stored)


def app_from_row(m: Any, cipher: Cipher | None = None) -> App:
    return App(
        id=m["id"],
        name=m["name"],
        repo=m["repo"],
        exposure=Exposure(m["exposure"]),
        maintenance=bool(m["maintenance"]),
        certs=_certs(m["certs"], cipher),
        created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]),
        released_at=utc_or_none(m["released_at"]),
    )


def _release_fields(m: Any) -> dict[str, Any]:
    """The columns a release and its summary share."""
    user = None
    if m["user_id"]:
        user = User(id=m["user_id"], name=m["user_name"] or "", email=m["user_email"] or "")
    return {
        "id": m["id"],
        "app_id": m["app_id"],
        "app_name": m["app_name"],
        "version": m["version"],
        "description": m["description"],
        "created_at": as_utc(m["created_at"]),
        "updated_at": as_utc(m["updated_at"]),
        "user": user,
        "message": m["message"],
        "outcome": Outcome(m["outcome"]),
        "reason": m["reason"] or "",
        "current": bool(m["current"]),
    }


def release_from_row(m: Any, config_vars: dict[str, str]) -> Release:
    return Release(
        slug=Slug(m["slug_id"], m["slug_image"], bytes(m["slug_procfile"])),
        config=Config(m["config_id"], m["app_id"], config_vars, as_utc(m["config_created_at"])),
        formation=formation_from_json(m["formation"]),
        phase=m["phase"] or "",
        phase_output=m["phase_output"] or "",
        **_release_fields(m),
    )


def summary_from_row(m: Any) -> ReleaseSummary:
    return ReleaseSummary(slug_id=m["slug_id"], image=m["slug_image"], **_release_fields(m))


def domain_from_row(m: Any) -> Domain:
    return Domain(m["id"], m["app_id"], m["hostname"], as_utc(m["created_at"]))


def user_from_row(m: Any) -> User:
    return User(id=m["id"], name=m["name"], email=m["email"] or "", admin=bool(m["admin"]))


def formation_to_json(formation: Formation) -> dict[str, Any]:
    """Serialize a formation to plain JSON."""
    return {name: dataclasses.asdict(process) for name, process in formation.items()}


def formation_from_json(data: dict[str, Any]) -> Formation:
    """Rebuild a formation from its JSON form."""
    formation: Formation = {}
    for name, p in data.items():
        size = p.get("size")
        hc = p.get("healthcheck")
        formation[name] = Process(
            name=p["name"],
            command=tuple(p["command"]),
            quantity=p["quantity"],
            size=Size(**size) if size else None,
            noservice=p.get("noservice", False),
            cron=p.get("cron"),
            ports=tuple(Port(**port) for port in p.get("ports", ())),
            environment=tuple((k, v) for k, v in p.get("environment", ())),
            healthcheck=HealthCheck(**hc) if hc else None,
        )
    return formation
