"""Fixtures of the API tier: an in-process Empire (SQLite, fake scheduler, fake images) and a
TestClient speaking to it as the Heroku clients and the Go `emp` do."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from empire.model import Page
from api.api_support import APP, HEROKU, IMAGE, PROCFILE, Deploy, Snapshot, ndjson
from support.stack import Stack, make_stack

@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    """A fresh Empire with the admin `alice`; IMAGE is known to the fake images."""
    stack = make_stack(tmp_path)
    stack.images.add(IMAGE, procfile=PROCFILE)
    return stack


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    """A client authenticated as alice, sending the Heroku Accept header."""
    with stack.client() as client:
        client.headers["Accept"] = HEROKU
        yield client


@pytest.fixture
def deploy(client: TestClient) -> Deploy:
    """Deploy an image through POST /deploys (or /apps/{app}/deploys); return the messages."""

    def run(
        image: str = IMAGE, *, app: str | None = None, headers: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        path = f"/apps/{app}/deploys" if app else "/deploys"
        response = client.post(path, json={"image": image, "stream": True}, headers=headers)
        assert response.status_code == 200, response.text
        return ndjson(response.text)

    return run


@pytest.fixture
def deployed(deploy: Deploy) -> str:
    """acme-inc deployed once (v1: web=1, worker=0, migrate noservice)."""
    messages = deploy()
    assert messages[-1] == {"status": "Status: Release v1 of acme-inc succeeded"}
    return APP


@pytest.fixture
def snapshot(stack: Stack) -> Snapshot:
    """Everything a request could change: apps, releases, config, formations, domains,
    what the scheduler runs and the audit events. Compare before and after a bad request."""

    def take() -> dict[str, Any]:
        empire = stack.empire
        apps: dict[str, Any] = {}
        for app in empire.apps(Page(field="name", max=1000)):
            releases = empire.releases(app.id, Page(field="version", max=1000))
            apps[app.name] = {
                "app": dataclasses.asdict(app),
                "releases": [dataclasses.asdict(r) for r in releases],
                "config": empire.config(app.id),
                "domains": [
                    dataclasses.asdict(d) for d in empire.domains(app.id, Page(field="hostname"))
                ],
            }
        scheduler = stack.scheduler
        return {
            "apps": apps,
            "manifests": dict(scheduler.manifests),
            "runs": {k: list(v) for k, v in scheduler.runs.items()},
            "stopped": list(scheduler.stopped),
            "restarts": list(scheduler.restarts),
            "events": len(stack.events.events),
        }

    return take
