"""An in-process Empire for tests: SQLite (or a given URL), fake scheduler, fake images."""

from __future__ import annotations

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
from empire.wiring import build_api, build_empire

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


def make_stack(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    clock: Callable[[], datetime] | None = None,
    messages_required: bool = False,
    env: dict[str, str] | None = None,
) -> Stack:
    """Build a migrated store, fakes, the facade and the API, plus an admin user `alice`."""
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
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    clock = clock or FrozenClock()
    scheduler = FakeScheduler(clock)
    images = FakeImages(default_procfile=b"web: ./bin/web\n", accept_any=True)
    events = MemorySink()
    empire = build_empire(
        settings, store=store, scheduler=scheduler, images=images, events=events, clock=clock
    )
    user, token = empire.create_user("alice", admin=True, email="alice@example.com")
    return Stack(
        empire=empire,
        api=build_api(settings, empire),
        store=store,
        scheduler=scheduler,
        images=images,
        events=events,
        clock=clock,
        user=user,
        token=token,
    )
