"""The real `Empire` facade on the ECS backend (moto): what a user does, what AWS then holds.

The facade is built by `empire.wiring.build_empire` with a migrated SQLite store, fake
images and the `EcsScheduler` on the moto server, as tests/support/stack.py builds the
in-process stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecs.ecs_support import Infra, container, env, parameters, resolved_env
from empire import progress, sizes
from empire.core import Empire
from empire.events import MemorySink
from empire.images.fake import FakeImages
from empire.model import Outcome, RunRequest, ScaleUpdate, User
from empire.settings import Settings
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from empire.wiring import build_empire

PROCFILE = b"""
web:
  command: ./bin/web
  healthcheck: /health
worker:
  command: ./bin/worker
"""


@pytest.fixture
def empire(infra: Infra, tmp_path: Path) -> tuple[Empire, User]:
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake"}
    )
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    images = FakeImages({"acme/acme:v1": PROCFILE, "acme/acme:v2": PROCFILE})
    facade = build_empire(
        settings, store=store, images=images, scheduler=infra.scheduler(), events=MemorySink()
    )
    user, _ = facade.create_user("alice", admin=True)
    return facade, user


def web_definition(infra: Infra) -> dict[str, object]:
    return infra.task_definition(infra.services()["acme_web"]["taskDefinition"])


def test_the_facade_drives_ecs(empire: tuple[Empire, User], infra: Infra) -> None:
    facade, alice = empire
    events: list[progress.Event] = []
    v1 = facade.deploy("acme/acme:v1", by=alice, progress=events.append, stream=True)
    assert v1.outcome is Outcome.SUCCEEDED, v1.reason
    app = facade.app("acme", by=alice)
    services = infra.services()
    assert set(services) == {"acme_web", "acme_worker"}
    assert (
        services["acme_web"]["desiredCount"] == 1 and services["acme_worker"]["desiredCount"] == 0
    )
    assert container(web_definition(infra))["image"] == v1.slug.image
    statuses = [e.text for e in events if isinstance(e, progress.Status)]
    assert "web: created service acme_web, 1 wanted" in statuses
    assert "Release v1 of acme succeeded" in statuses

    facade.scale("acme", [ScaleUpdate("web", 2, sizes.parse("2X"))], by=alice)
    web = infra.services()["acme_web"]
    assert web["desiredCount"] == 2
    box = container(web_definition(infra))
    assert (box["cpu"], box["memory"]) == (512, 1024)  # a new size is a new task definition

    facade.set_config("acme", {"DATABASE_URL": "postgres://db/acme"}, by=alice)
    definition = web_definition(infra)
    assert "DATABASE_URL" not in env(definition)  # a reference to Parameter Store instead
    assert resolved_env(infra, definition)["DATABASE_URL"] == "postgres://db/acme"
    assert env(definition)["EMPIRE_RELEASE"] == "v2"

    v3 = facade.rollback("acme", "v1", by=alice)
    assert v3.outcome is Outcome.SUCCEEDED and v3.version == 3
    assert "DATABASE_URL" not in resolved_env(infra, web_definition(infra))
    assert parameters(infra) == []  # v2's went with its task definitions
    assert infra.services()["acme_web"]["desiredCount"] == 2

    facade.add_domain("acme", "acme.example.com", by=alice)
    public = infra.rules(infra.config.public_listener_arn)
    assert [r["hosts"] for r in public] == [["acme.example.com"]]
    assert public[0]["tags"]["empire.app.id"] == app.id

    _, task = facade.run("acme", RunRequest(command="worker --once"), by=alice)
    assert task.process == "worker" and task.command == "./bin/worker --once"
    assert task.name in {t.name for t in facade.tasks("acme", by=alice)}

    facade.remove_domain("acme", "acme.example.com", by=alice)
    assert infra.rules(infra.config.public_listener_arn) == []

    facade.set_config("acme", {"TOKEN": "s3cret"}, by=alice)
    assert len(parameters(infra)) == 1
    facade.destroy("acme", by=alice)
    assert parameters(infra) == []
    assert infra.services() == {}
    assert infra.target_groups() == {}
    assert infra.rules(infra.config.internal_listener_arn) == []
    assert infra.records() == {}
