"""Fixtures of the API tier: an in-process Empire (SQLite, fake scheduler, fake images) and a
TestClient speaking to it as the Heroku clients and the Go `emp` do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, IMAGE, PROCFILE, Deploy, Snapshot, ndjson, take_snapshot
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
    """Everything a request could change; compare it before and after a bad request."""
    return lambda: take_snapshot(stack)


@pytest.fixture
def unchanged(client: TestClient, deployed: str, snapshot: Snapshot) -> Iterator[TestClient]:
    """acme-inc deployed, with a domain and a config var; asserts afterwards that the test's
    requests changed nothing."""
    assert client.post(f"/apps/{APP}/domains", json={"hostname": "www.acme.com"}).status_code == 201
    assert client.patch(f"/apps/{APP}/config-vars", json={"KEEP": "1"}).status_code == 200
    before = snapshot()
    yield client
    assert snapshot() == before


@pytest.fixture
def many_apps(client: TestClient) -> list[str]:
    names = [f"app-{n:02d}" for n in range(7)]
    for name in reversed(names):
        assert client.post("/apps", json={"name": name}).status_code == 201
    return names


@pytest.fixture
def many_releases(client: TestClient, deployed: str) -> int:
    for n in range(6):
        assert client.patch(f"/apps/{APP}/config-vars", json={f"K{n}": "v"}).status_code == 200
    return 7


@pytest.fixture
def many_domains(client: TestClient, deployed: str) -> list[str]:
    hosts = [f"www{n}.example.com" for n in range(5)]
    for host in hosts:
        assert client.post(f"/apps/{APP}/domains", json={"hostname": host}).status_code == 201
    return hosts
