"""Issue 13 item 13: certificates (which carry private keys) are encrypted at rest as config
vars are, existing rows are encrypted by a migration, and `empire keys rotate` covers them;
SQLite's files and the data directory are private. Item 5's migration: events get the id of the
app they happened to. Each on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from empire.errors import Unavailable
from empire.events import Event
from empire.model import App, Page
from empire.secrets import Cipher, generate_key, private_dir
from empire.store import migrate
from empire.store import tables as t
from empire.store.sql import SqlStore, connect
from support.pki import bundle

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PEM = bundle("www.acme.test")
ALL = Page(field="created_at", max=100)


def make_app(name: str, n: int, certs: dict[str, str] | None = None, **kw: object) -> App:
    return App(
        id=f"{n:08d}-0000-0000-0000-000000000000",
        name=name,
        created_at=kw.pop("created_at", NOW),  # type: ignore[arg-type]
        updated_at=NOW,
        certs=certs or {},
    )


def raw_certs(store: SqlStore) -> list[object]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(t.apps.c.certs).order_by(t.apps.c.name)).scalars())


def test_certificates_are_encrypted_at_rest_and_rotated(database_url: str) -> None:
    old, new = generate_key(), generate_key()
    store = SqlStore(connect(database_url), cipher=Cipher([old]))
    migrate.upgrade(store.engine, cipher=store.cipher)
    acme = make_app("acme-inc", 1, {"web": PEM, "api": "arn:aws:acm:x:1:certificate/y"})
    bare = make_app("bare", 2)
    with store.write() as tx:
        tx.insert_app(acme)
        tx.insert_app(bare)
    [stored_acme, stored_bare] = raw_certs(store)
    assert "PRIVATE KEY" not in str(stored_acme) and "arn:aws" not in str(stored_acme)
    assert set(stored_acme) == {"fernet"}  # type: ignore[arg-type]
    assert stored_bare == {}  # nothing to hide: no decryption on reads of most apps
    with store.read() as tx:
        assert tx.app("acme-inc") == acme
        assert tx.visible_apps("nobody", Page(field="name")) == []
        assert [a.certs for a in tx.apps(Page(field="name"))] == [acme.certs, {}]

    rotating = SqlStore(store.engine, cipher=Cipher([new, old]))
    assert rotating.rotate_cert_keys() == 1
    with SqlStore(store.engine, cipher=Cipher([new])).read() as tx:
        assert tx.app("acme-inc") == acme
    with (
        SqlStore(store.engine, cipher=Cipher([old])).read() as tx,
        pytest.raises(Unavailable, match="certificates cannot be decrypted"),
    ):
        tx.app("acme-inc")
    with SqlStore(store.engine).read() as tx, pytest.raises(Unavailable, match="encrypted"):
        tx.app("acme-inc")
    store.engine.dispose()


def test_the_migration_encrypts_existing_certificates(database_url: str) -> None:
    key = generate_key()
    engine = connect(database_url)
    migrate.upgrade(engine, "0004")
    plain = SqlStore(engine)  # as the code before encryption wrote them
    with plain.write() as tx:
        tx.insert_app(make_app("acme-inc", 1, {"web": PEM}))
        tx.insert_app(make_app("other", 2, {"web": "acme-cert"}))
    assert "PRIVATE KEY" in str(raw_certs(plain))

    store = SqlStore(engine, cipher=Cipher([key]), expected_revision=migrate.head())
    store.migrate()
    store.check()
    assert "PRIVATE KEY" not in str(raw_certs(store)) and "acme-cert" not in str(raw_certs(store))
    with store.read() as tx:
        assert tx.app("acme-inc").certs == {"web": PEM}  # type: ignore[union-attr]
        assert tx.app("other").certs == {"web": "acme-cert"}  # type: ignore[union-attr]
    migrate.downgrade(engine, "0004", cipher=store.cipher)
    assert raw_certs(plain) == [{"web": PEM}, {"web": "acme-cert"}]
    engine.dispose()


def test_without_a_key_the_migration_leaves_them_readable_and_rotate_encrypts_them(
    database_url: str,
) -> None:
    engine = connect(database_url)
    migrate.upgrade(engine, "0004")
    with SqlStore(engine).write() as tx:
        tx.insert_app(make_app("acme-inc", 1, {"web": PEM}))
    migrate.upgrade(engine)  # no cipher: nothing to encrypt with
    assert migrate.current(engine) == migrate.head()
    store = SqlStore(engine, cipher=Cipher([generate_key()]))
    with store.read() as tx:
        assert tx.app("acme-inc").certs == {"web": PEM}  # type: ignore[union-attr]
    assert store.rotate_cert_keys() == 1
    assert "PRIVATE KEY" not in str(raw_certs(store))
    engine.dispose()


# -- events keyed by app id (item 5) ----------------------------------------------------------


def event(kind: str, app: str | None, text: str, minutes: int) -> dict[str, object]:
    return {
        "kind": kind,
        "user_name": "alice",
        "app_name": app,
        "text": text,
        "message": None,
        "data": {},
        "created_at": NOW + timedelta(minutes=minutes),
    }


def test_the_migration_gives_each_event_its_apps_id(database_url: str) -> None:
    """Replayed in order: a destroyed app and a new one of the same name, a rename, a deploy
    recorded under the app's id, and an event of an app the log never saw created."""
    engine = connect(database_url)
    migrate.upgrade(engine, "0003")
    at = lambda minutes: NOW + timedelta(minutes=minutes)  # noqa: E731
    old = {"id": "10000000-0000-0000-0000-000000000000", "name": "acme-inc", "created_at": at(0)}
    new = {"id": "20000000-0000-0000-0000-000000000000", "name": "acme-two", "created_at": at(10)}
    legacy = {"id": "30000000-0000-0000-0000-000000000000", "name": "legacy", "created_at": at(-99)}
    with engine.begin() as conn:
        for row, deleted in ((old, at(5)), (new, None), (legacy, None)):
            conn.execute(
                t.apps.insert().values(
                    **row, certs={}, updated_at=row["created_at"], deleted_at=deleted
                )
            )
        for values in (
            event("create", "acme-inc", "alice created acme-inc", 1),
            event("set", "acme-inc", "alice set STRIPE_KEY on acme-inc", 2),
            event("destroy", "acme-inc", "alice destroyed acme-inc", 5),
            event("create", "acme-inc", "alice created acme-inc", 11),
            event("deploy", new["id"], f"alice deployed x to {new['id']} (v1)", 12),
            event("rename", "acme-two", "alice renamed acme-inc to acme-two", 13),
            event("scale", "acme-two", "alice scaled web on acme-two", 14),
            event("domain", "legacy", "alice added www.legacy.test to legacy", 15),
            event("team", None, "alice created team ops", 16),
            event("set", "ghost", "alice set X on ghost", 17),
        ):
            conn.execute(t.events.insert().values(**values))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.events.c.kind, t.events.c.app_id, t.events.c.app_name).order_by(t.events.c.seq)
        ).all()
    assert [(r.app_id, r.app_name) for r in rows] == [
        (old["id"], "acme-inc"),
        (old["id"], "acme-inc"),
        (old["id"], "acme-inc"),
        (new["id"], "acme-inc"),
        (new["id"], "acme-two"),  # was recorded under the id
        (new["id"], "acme-two"),
        (new["id"], "acme-two"),
        (legacy["id"], "legacy"),
        (None, None),
        (None, "ghost"),
    ]
    store = SqlStore(engine)
    with store.read() as tx:
        assert [e.kind for e in tx.events(str(new["id"]), ALL)] == [
            "create",
            "deploy",
            "rename",
            "scale",
        ]
        assert [e.kind for e in tx.events(str(old["id"]), ALL)] == ["create", "set", "destroy"]
    with store.write() as tx:
        tx.insert_event(
            Event("create", "alice", "acme-inc", "alice created acme-inc", None, NOW, app_id="x")
        )
    with store.read() as tx:
        assert [e.app_id for e in tx.events("x", ALL)] == ["x"]
    migrate.downgrade(engine, "0003")
    migrate.upgrade(engine)
    engine.dispose()


# -- private files ----------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The usual umask (022), with which they were 0644 and 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("usual_umask")
def test_the_sqlite_database_and_the_data_dir_are_private(tmp_path: Path) -> None:
    data = private_dir(tmp_path / "data")
    store = SqlStore(connect(f"sqlite:///{data / 'empire.db'}"))
    migrate.upgrade(store.engine)
    with store.write() as tx:
        tx.insert_app(make_app("acme-inc", 1))
    files = [data / name for name in ("empire.db", "empire.db-wal", "empire.db-shm")]
    assert all(path.exists() for path in files)
    assert [mode(path) for path in files] == [0o600, 0o600, 0o600]
    assert mode(data) == 0o700
    store.engine.dispose()

    # an existing, world-readable installation is made private at start
    data.chmod(0o755)
    for path in files:
        if path.exists():
            path.chmod(0o644)
    private_dir(data)
    again = SqlStore(connect(f"sqlite:///{data / 'empire.db'}"))
    with again.read() as tx:
        assert tx.app("acme-inc") is not None
    assert mode(data) == 0o700
    assert {mode(path) for path in files if path.exists()} == {0o600}
    again.engine.dispose()
