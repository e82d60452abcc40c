"""The scheduler contract (support/contract.py) on the fake scheduler the service, api and cli
tiers stand on: it must behave as the real backends do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from empire import manifest as manifests
from empire.model import App, Config, Process, Release, Slug
from empire.scheduler.fake import FakeScheduler
from support import contract


def build(app: App, version: int, formation: dict[str, Process], config: dict[str, str]):
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    release = Release(
        id=f"{app.id}-v{version}",
        app_id=app.id,
        app_name=app.name,
        version=version,
        slug=Slug(id=f"slug-{version}", image="busybox", procfile=b""),
        config=Config(id=f"config-{version}", app_id=app.id, vars=config, created_at=now),
        formation=formation,
        description=f"v{version}",
        created_at=now,
        updated_at=now,
    )
    return manifests.build(app, release)


@pytest.fixture
def backend() -> Iterator[contract.Backend]:
    made = contract.Backend(FakeScheduler(), build, patience=5)
    yield made
    made.cleanup()


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.names())
def test_the_contract(check, backend: contract.Backend) -> None:
    check(backend)
