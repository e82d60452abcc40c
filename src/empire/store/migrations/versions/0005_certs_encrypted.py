"""Certificates encrypted at rest, as config vars are: a PEM certificate holds its private key.

Each app's certificates (`apps.certs`, {process: certificate}) are stored as `{"fernet":
token}` once a cipher is given. `empire.store.migrate.upgrade(engine, cipher=...)` hands the
store's cipher over; without one (a database migrated by code that has no key) the rows stay as
they are, still readable, and `empire keys rotate` encrypts them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("empire.store")
_apps = sa.table("apps", sa.column("id", sa.String), sa.column("certs", sa.JSON))


def _cipher() -> Any:
    return context.config.attributes.get("cipher")


def _encrypted(certs: Any) -> bool:
    return isinstance(certs, dict) and set(certs) == {"fernet"}


def upgrade() -> None:
    cipher = _cipher()
    conn = op.get_bind()
    rows = conn.execute(sa.select(_apps.c.id, _apps.c.certs)).all()
    plain = [(app_id, certs) for app_id, certs in rows if certs and not _encrypted(certs)]
    if not plain:
        return
    if cipher is None:
        log.warning(
            "%d apps' certificates stay unencrypted: migrate with the encryption key "
            "(empire migrate), or run `empire keys rotate`",
            len(plain),
        )
        return
    for app_id, certs in plain:
        conn.execute(
            _apps.update().where(_apps.c.id == app_id).values(certs=cipher.encrypt(dict(certs)))
        )


def downgrade() -> None:
    cipher = _cipher()
    conn = op.get_bind()
    for app_id, certs in conn.execute(sa.select(_apps.c.id, _apps.c.certs)).all():
        if not _encrypted(certs):
            continue
        if cipher is None:
            raise RuntimeError(
                "certificates are encrypted: downgrade with the encryption key "
                "(empire.store.migrate.downgrade(engine, revision, cipher=...))"
            )
        conn.execute(
            _apps.update()
            .where(_apps.c.id == app_id)
            .values(certs=cipher.decrypt(certs, what="certificates"))
        )
