"""Fixtures of the API tier: an in-process Empire (SQLite, fake scheduler, fake images) and a
TestClient speaking to it as the Heroku clients and the Go `emp` do."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, IMAGE, PROCFILE, Deploy, Snapshot, ndjson, take_snapshot
from support.stack import Stack, make_stack


def fresh_stack(tmp_path: Path) -> Stack:
    """A new Empire with the admin `alice`; IMAGE is known to the fake images."""
    stack = make_stack(tmp_path)
    stack.images.add(IMAGE, procfile=PROCFILE)
    return stack


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Stack:
    """A fresh Empire with the admin `alice`; IMAGE is known to the fake images. A test that
    uses `unchanged` gets its module's `pristine` Empire instead (see there)."""
    if "unchanged" in request.fixturenames:
        pristine: Stack = request.getfixturevalue("pristine")
        return pristine
    return fresh_stack(tmp_path)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """One Empire per module for the tests that change nothing (`unchanged`), seeded once:
    each of them checks that it left the store and the scheduler as it found them, and its
    changes to the fake images are undone, so the next one starts from the same state. (Its
    token's rate limit, 4500 requests an hour, is far above what one module sends.)"""
    stack = fresh_stack(tmp_path_factory.mktemp("pristine"))
    with stack.client() as client:
        client.headers["Accept"] = HEROKU
        seed(client)
    return stack


def seed(client: TestClient) -> None:
    """acme-inc deployed once (v1: web=1, worker=0, migrate noservice), with a domain and a
    config var (v2)."""
    response = client.post("/deploys", json={"image": IMAGE, "stream": True})
    assert ndjson(response.text)[-1] == {"status": "Status: Release v1 of acme-inc succeeded"}
    assert client.post(f"/apps/{APP}/domains", json={"hostname": "www.acme.com"}).status_code == 201
    assert client.patch(f"/apps/{APP}/config-vars", json={"KEEP": "1"}).status_code == 200


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
def unchanged(client: TestClient, stack: Stack, snapshot: Snapshot) -> Iterator[TestClient]:
    """acme-inc deployed, with a domain and a config var (`seed`); asserts afterwards that the
    test's requests changed nothing. The stack is the module's `pristine` one, or a module's
    own `stack` (test_on_postgres.py), seeded here."""
    if client.get(f"/apps/{APP}").status_code == 404:
        seed(client)
    images = {name: copy.copy(value) for name, value in vars(stack.images).items()}
    before = snapshot()
    try:
        yield client
        assert snapshot() == before
    finally:
        vars(stack.images).clear()
        vars(stack.images).update(images)


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
