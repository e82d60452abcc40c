"""One store suite, run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from empire.core import Empire, hash_token
from empire.errors import Conflict, Unavailable
from empire.events import NullSink
from empire.images.fake import FakeImages
from empire.model import App, Config, Domain, Outcome, Page, Release, Slug, Token, User
from empire.scheduler.fake import FakeScheduler
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from support.stack import make_stack

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def app(name: str, ident: str | None = None) -> App:
    return App(
        id=ident or f"00000000-0000-0000-0000-{abs(hash(name)) % 10**12:012d}",
        name=name,
        created_at=NOW,
        updated_at=NOW,
    )


def test_migrations_are_at_head_and_go_down_and_up(store: SqlStore) -> None:
    assert migrate.current(store.engine) == migrate.head()
    store.check()
    migrate.downgrade(store.engine, "base")
    with pytest.raises(Unavailable, match="run `empire migrate`"):
        store.check()
    migrate.upgrade(store.engine)
    store.check()


def test_apps_round_trip_and_soft_delete(store: SqlStore) -> None:
    acme = app("acme-inc")
    with store.write() as tx:
        tx.insert_app(acme)
    with store.read() as tx:
        assert tx.app("acme-inc") == acme
        assert tx.app(acme.id) == acme
    with store.write() as tx, pytest.raises(Conflict, match="Name acme-inc is already taken"):
        tx.insert_app(app("acme-inc", "10000000-0000-0000-0000-000000000000"))
    with store.write() as tx:
        tx.delete_app(acme.id, NOW)
        tx.insert_app(app("acme-inc", "20000000-0000-0000-0000-000000000000"))
    with store.read() as tx:
        found = tx.app("acme-inc")
        assert found is not None and found.id == "20000000-0000-0000-0000-000000000000"


def test_failed_transaction_leaves_nothing(store: SqlStore) -> None:
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.insert_app(app("acme-inc"))
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.app("acme-inc") is None


def test_pages_of_apps(store: SqlStore) -> None:
    with store.write() as tx:
        for i in range(7):
            tx.insert_app(app(f"app-{i}", f"00000000-0000-0000-0000-00000000000{i}"))
    with store.read() as tx:
        first = tx.apps(Page(field="name", max=3))
        rest = tx.apps(Page(field="name", start=first[-1].name, exclusive=True, max=10))
        back = tx.apps(Page(field="name", max=2, descending=True))
        sql = tx.apps(Page(field="name", start="'; DROP TABLE apps; --", max=10))
    assert [a.name for a in first + rest] == [f"app-{i}" for i in range(7)]
    assert [a.name for a in back] == ["app-6", "app-5"]
    assert len(sql) == 7


def test_releases_config_and_domains(store: SqlStore) -> None:
    acme = app("acme-inc")
    user = User("30000000-0000-0000-0000-000000000000", "alice", "alice@example.com")
    config = Config("40000000-0000-0000-0000-000000000000", acme.id, {"A": "1", "E": ""}, NOW)
    slug = Slug("50000000-0000-0000-0000-000000000000", "acme/api@sha256:ab", b"web: x\n")
    with store.write() as tx:
        tx.insert_app(acme)
        tx.insert_config(config)
        tx.insert_slug(slug)
        for version in (1, 2, 3):
            tx.insert_release(
                Release(
                    f"6000000{version}-0000-0000-0000-000000000000",
                    acme.id,
                    acme.name,
                    tx.next_version(acme.id),
                    slug,
                    config,
                    {},
                    f"Deploy {version}",
                    NOW,
                    NOW,
                    user=user,
                )
            )
        tx.insert_domain(Domain("70000000-0000-0000-0000-000000000000", acme.id, "a.example", NOW))
    with store.read() as tx:
        latest = tx.latest_release(acme.id)
        assert latest is not None and latest.version == 3 and latest.user == user
        assert latest.config.vars == {"A": "1", "E": ""}
        assert tx.latest_config(acme.id) == config
        listed, _ = tx.app_releases(acme.id, Page("version", "2", max=5))
        assert [r.version for r in listed] == [2, 3]
        assert [(a.name, r.version, d) for a, r, d in tx.current_states()] == [
            ("acme-inc", 3, ("a.example",))
        ]
        assert tx.count_domains(acme.id) == 1
    with store.write() as tx, pytest.raises(Conflict):
        tx.insert_domain(Domain("80000000-0000-0000-0000-000000000000", acme.id, "a.example", NOW))


def test_tokens_expire_and_belong_to_users(store: SqlStore) -> None:
    user = User("30000000-0000-0000-0000-000000000000", "alice", "alice@example.com", admin=True)
    with store.write() as tx:
        tx.insert_user(user, NOW)
        tx.insert_token(Token("t1", user, "", NOW, NOW + timedelta(days=1)), hash_token("s1"))
    with store.read() as tx:
        token = tx.token(hash_token("s1"))
        assert token is not None and token.user == user
        assert token.expires_at == NOW + timedelta(days=1)
        assert tx.token(hash_token("nope")) is None


def test_fifty_concurrent_writes_to_one_app(database_url: str, tmp_path: Path) -> None:
    """Deploys, config changes and scales from 50 threads: contiguous versions, none lost."""
    stack = make_stack(tmp_path, database_url=database_url)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    empire = Empire(
        store=SqlStore(connect(database_url)),
        scheduler=FakeScheduler(),
        images=FakeImages(default_procfile=b"web: ./w\n", accept_any=True),
        events=NullSink(),
    )
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def write(i: int) -> None:
        try:
            barrier.wait()
            if i % 3 == 0:
                empire.deploy(f"acme/acme-inc:v{i}", by=stack.user)
            else:
                empire.set_config("acme-inc", {f"K{i}": str(i)}, by=stack.user)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    releases = stack.empire.releases("acme-inc", Page(field="version", max=1000), by=stack.user)
    assert [r.version for r in releases] == list(range(1, 52))
    config = stack.empire.config("acme-inc", by=stack.user)
    assert {k for k in config} == {f"K{i}" for i in range(50) if i % 3}
    empire.store.engine.dispose()  # type: ignore[attr-defined]


def test_config_vars_are_encrypted_at_rest_and_rotated(database_url: str) -> None:
    from sqlalchemy import select

    from empire.secrets import Cipher, generate_key
    from empire.store import tables

    old, new = generate_key(), generate_key()
    store = SqlStore(connect(database_url), expected_revision=migrate.head(), cipher=Cipher([old]))
    migrate.upgrade(store.engine)
    acme = app("acme-inc")
    config = Config("40000000-0000-0000-0000-000000000000", acme.id, {"TOKEN": "s3cret"}, NOW)
    with store.write() as tx:
        tx.insert_app(acme)
        tx.insert_config(config)
    with store.engine.connect() as conn:
        raw = conn.execute(select(tables.configs.c.vars)).scalar_one()
    assert "s3cret" not in str(raw)
    with store.read() as tx:
        assert tx.latest_config(acme.id) == config
    rotating = SqlStore(store.engine, cipher=Cipher([new, old]))
    assert rotating.rotate_config_keys() == 1
    with SqlStore(store.engine, cipher=Cipher([new])).read() as tx:
        assert tx.latest_config(acme.id) == config
    store.engine.dispose()


def test_what_processes_print_is_kept_even_with_nul_bytes(store: SqlStore) -> None:
    """A release phase's output and a verdict's reason come from processes: a NUL byte in them
    (PostgreSQL's text refuses it) is kept as U+FFFD instead of failing the write."""
    acme = app("acme-inc")
    config = Config("40000000-0000-0000-0000-000000000000", acme.id, {}, NOW)
    slug = Slug("50000000-0000-0000-0000-000000000000", "acme/api@sha256:ab", b"web: x\n")
    release = Release(
        "60000000-0000-0000-0000-000000000000",
        acme.id,
        acme.name,
        1,
        slug,
        config,
        {},
        "Deploy \x00",
        NOW,
        NOW,
        message="fix \x00",
    )
    with store.write() as tx:
        tx.insert_app(acme)
        tx.insert_config(config)
        tx.insert_slug(slug)
        tx.insert_release(release)
        tx.set_phase(release.id, "failed", "migrating\x00\x01 done", NOW)
        tx.set_outcome(release.id, Outcome.FAILED, 'last log lines: "a\x00b"', NOW)
    with store.read() as tx:
        kept = tx.release(acme.id, "1")
    assert kept is not None
    assert kept.phase_output == "migrating\ufffd\x01 done"
    assert kept.reason == 'last log lines: "a\ufffdb"'
    assert (kept.description, kept.message) == ("Deploy \ufffd", "fix \ufffd")
