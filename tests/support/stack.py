"""An in-process Empire for tests: SQLite (or a given URL), fake scheduler, fake images."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from empire.core import Empire
from empire.events import MemorySink
from empire.images.fake import FakeImages
from empire.model import User
from empire.scheduler.fake import FakeScheduler
from empire.settings import Settings
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from empire.wiring import build_api, build_empire, build_metrics

FROZEN = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


class FrozenClock:
    """A clock that stands still until told to move."""

    def __init__(self, now: datetime = FROZEN) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Stack:
    empire: Empire
    api: FastAPI
    store: SqlStore
    scheduler: FakeScheduler
    images: FakeImages
    events: MemorySink
    clock: Callable[[], datetime]
    user: User
    token: str

    def client(self, token: str | None = None) -> TestClient:
        """A TestClient (an httpx.Client) authenticated with the stack user's token."""
        client = TestClient(self.api, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {token or self.token}"
        return client


@functools.cache
def migrated_sqlite() -> Path:
    """An SQLite database migrated to HEAD, made once per test process: each stack starts
    from a copy of it (migrating every test's database took most of the fast tiers' time).
    The store tier still migrates for real."""
    folder = Path(tempfile.mkdtemp(prefix="empire-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    database = folder / "empire.db"
    engine = connect(f"sqlite:///{database}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not Path(f"{database}-wal").exists(), "the template's WAL was not checkpointed"
    return database


def forget_earlier_apps() -> None:
    """Let the earlier tests' Empires go. FastAPI caches what it learns of each endpoint
    (`fastapi.dependencies.models`, 4096 entries a cache), and the endpoints `create_app`
    makes hold the Empire: a test process builds hundreds, which stayed alive, and every
    collection of the garbage collector walked them all."""
    from fastapi.dependencies import models

    for cache in ("gen", "async_gen", "coroutine"):
        getattr(models, f"_is_{cache}_callable_cached").cache_clear()


def make_stack(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    messages_required: bool = False,
    env: dict[str, str] | None = None,
) -> Stack:
    """Build a migrated store, fakes, the facade and the API, plus an admin user `alice`."""
    forget_earlier_apps()
    settings = Settings.from_env(
        {
            "EMPIRE_DATA_DIR": str(tmp_path),
            "EMPIRE_IMAGES": "fake",
            "EMPIRE_SCHEDULER": "fake",
            "EMPIRE_MESSAGES_REQUIRED": "true" if messages_required else "",
            **({"EMPIRE_DATABASE_URL": database_url} if database_url else {}),
            **(env or {}),
        }
    )
    if settings.sqlite and not Path(settings.database_url.split("///", 1)[1]).exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_sqlite(), settings.database_url.split("///", 1)[1])
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)  # nothing to do at HEAD
    clock = clock or FrozenClock()
    scheduler = FakeScheduler(clock)
    images = FakeImages(default_procfile=b"web: ./bin/web\n", accept_any=True)
    events = MemorySink()
    metrics = build_metrics(settings)  # on, as in `empire server` (EMPIRE_METRICS)
    empire = build_empire(
        settings,
        store=store,
        scheduler=scheduler,
        images=images,
        events=events,
        clock=clock,
        metrics=metrics,
    )
    user, token = empire.create_user("alice", admin=True, email="alice@example.com")
    return Stack(
        empire=empire,
        api=build_api(settings, empire, metrics),
        store=store,
        scheduler=scheduler,
        images=images,
        events=events,
        clock=clock,
        user=user,
        token=token,
    )
