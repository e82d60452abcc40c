"""The builds table on SQLite and PostgreSQL: insert, finish, list newest first, find by id or
commit; an app's destruction (hard delete) takes its builds along."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from empire.builds import Build, BuildStatus
from empire.model import App
from empire.store.sql import SqlStore

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
APP_ID = "10000000-0000-0000-0000-000000000001"


def build(n: int, commit: str = "") -> Build:
    return Build(
        id=f"b{n:035d}",
        app_id=APP_ID,
        app_name="acme",
        status=BuildStatus.PENDING,
        created_at=T0 + timedelta(minutes=n),
        updated_at=T0 + timedelta(minutes=n),
        user_name="alice",
        commit=commit,
        checksum="SHA256:" + "0" * 64,
        source_bytes=10240,
    )


def test_builds_round_trip(store: SqlStore) -> None:
    with store.write() as tx:
        tx.insert_app(App(id=APP_ID, name="acme", created_at=T0, updated_at=T0))
        for n in range(3):
            tx.insert_build(build(n, commit=f"{n}" * 40 if n else ""))
    finished = dataclasses.replace(
        build(1, "1" * 40),
        status=BuildStatus.FAILED,
        output="Step 1/1\x00 : FROM scratch\nboom",  # a NUL from a process is kept as U+FFFD
        reason="the build failed",
        image="",
        updated_at=T0 + timedelta(hours=1),
    )
    with store.write() as tx:
        tx.update_build(finished)
        tx.update_build(
            dataclasses.replace(
                build(2, "2" * 40),
                status=BuildStatus.SUCCEEDED,
                image="acme:2222222",
                release_id="r1",
                release_version=1,
            )
        )
    with store.read() as tx:
        listed = tx.builds(APP_ID, "acme", 10)
        assert [b.id for b in listed] == [build(n).id for n in (2, 1, 0)]
        assert [b.status for b in listed] == [
            BuildStatus.SUCCEEDED,
            BuildStatus.FAILED,
            BuildStatus.PENDING,
        ]
        assert tx.builds(APP_ID, "acme", 1)[0].release_version == 1
        found = tx.build(APP_ID, "acme", "1" * 40)
        assert found is not None and found.id == build(1).id
        assert found.output == "Step 1/1\ufffd : FROM scratch\nboom"
        assert found.updated_at == T0 + timedelta(hours=1)
        assert found.created_at == T0 + timedelta(minutes=1)
        assert tx.build(APP_ID, "acme", build(0).id) == build(0)
        assert tx.build(APP_ID, "acme", "") is None
        assert tx.build("20000000-0000-0000-0000-000000000000", "x", build(0).id) is None
