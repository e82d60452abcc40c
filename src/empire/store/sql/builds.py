"""The builds' queries: a mixin of `SqlTransaction`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from empire.builds import Build, BuildStatus
from empire.store import tables as t
from empire.store.sql.rows import as_utc


class BuildQueries:
    """Insert a build, record how it ended, read an app's builds back."""

    conn: Connection

    def insert_build(self, build: Build) -> None:
        self.conn.execute(t.builds.insert().values(**_row(build)))

    def update_build(self, build: Build) -> None:
        row = _row(build)
        del row["id"], row["app_id"], row["created_at"]
        self.conn.execute(t.builds.update().where(t.builds.c.id == build.id).values(**row))

    def builds(self, app_id: str, app_name: str, limit: int) -> list[Build]:
        b = t.builds.c
        query = (
            select(t.builds)
            .where(b.app_id == app_id)
            .order_by(b.created_at.desc(), b.id.desc())
            .limit(limit)
        )
        return [_build(row._mapping, app_name) for row in self.conn.execute(query)]

    def build(self, app_id: str, app_name: str, ident: str) -> Build | None:
        if not ident:
            return None
        b = t.builds.c
        query = select(t.builds).where(b.app_id == app_id, or_(b.id == ident, b.commit == ident))
        row = self.conn.execute(query.order_by(b.created_at.desc()).limit(1)).first()
        return None if row is None else _build(row._mapping, app_name)


def _row(build: Build) -> dict[str, Any]:
    return {
        "id": build.id,
        "app_id": build.app_id,
        "status": str(build.status),
        "user_id": build.user_id,
        "user_name": build.user_name,
        "commit": build.commit,
        "checksum": build.checksum,
        "source_bytes": build.source_bytes,
        "image": build.image,
        "release_id": build.release_id,
        "release_version": build.release_version,
        "output": build.output,
        "reason": build.reason,
        "created_at": build.created_at,
        "updated_at": build.updated_at,
    }


def _build(m: Any, app_name: str) -> Build:
    created: datetime = as_utc(m["created_at"])
    return Build(
        id=m["id"],
        app_id=m["app_id"],
        app_name=app_name,
        status=BuildStatus(m["status"]),
        created_at=created,
        updated_at=as_utc(m["updated_at"]),
        user_id=m["user_id"],
        user_name=m["user_name"],
        commit=m["commit"],
        checksum=m["checksum"],
        source_bytes=m["source_bytes"],
        image=m["image"],
        release_id=m["release_id"],
        release_version=m["release_version"],
        output=m["output"],
        reason=m["reason"],
    )
