"""A handler makes one facade call per request, which checks every role it needs before it
changes anything: a refusal never follows a change (issue 13, item 16). Writes run in the
server's worker threads, reads marked `@store_reads` on its event loop."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, Snapshot, error
from empire.api.context import Context
from empire.api.deploys import wire
from empire.errors import NotFound
from empire.progress import Failed, PhaseOutput, Pulled, ReleaseCreated, Status
from support.stack import Stack


@pytest.fixture
def bob(stack: Stack, deployed: str) -> TestClient:
    """A client of bob, a deployer of the app (not an admin of it)."""
    _, token = stack.empire.create_user("bob")
    stack.empire.grant(APP, "bob", "deployer", by=stack.user)
    client = stack.client(token)
    client.headers["Accept"] = HEROKU
    return client


@pytest.mark.parametrize(
    "body",
    [
        {"maintenance": True, "name": "acme-two"},
        {"maintenance": True, "cert": "arn:aws:acm:us-east-1:1:certificate/a"},
        {"name": "acme-two"},
    ],
)
def test_a_deployer_refused_part_of_an_update_changes_nothing(
    bob: TestClient, snapshot: Snapshot, body: dict[str, Any]
) -> None:
    """PATCH /apps/{app} as a deployer: maintenance alone is theirs to change, a name or a
    certificate is an admin's; asked together, the 403 comes before maintenance is on."""
    before = snapshot()
    refused = error(bob.patch(f"/apps/{APP}", json=body), 403, "forbidden")
    assert refused["message"].startswith(f"bob is a deployer of {APP}: ")
    assert snapshot() == before
    assert bob.patch(f"/apps/{APP}", json={"maintenance": True}).json()["maintenance"] is True


def test_a_name_taken_refuses_the_whole_update(
    client: TestClient, deployed: str, snapshot: Snapshot
) -> None:
    assert client.post("/apps", json={"name": "taken"}).status_code == 201
    before = snapshot()
    error(
        client.patch(f"/apps/{APP}", json={"maintenance": True, "name": "taken"}),
        409,
        "conflict",
        "Name taken is already taken",
    )
    assert snapshot() == before


def test_an_update_makes_every_change_with_one_rollout(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    submitted: list[str] = []
    submit = stack.scheduler.submit

    def counting(manifest: Any, status: Any = None) -> Any:
        submitted.append(manifest.app_name)
        return submit(manifest, status)

    stack.scheduler.submit = counting  # type: ignore[method-assign]
    events = len(stack.events.events)
    body = {"maintenance": True, "cert": "arn:aws:acm:us-east-1:1:certificate/a", "name": "new"}
    updated = client.patch(f"/apps/{APP}", json=body).json()
    assert (updated["name"], updated["maintenance"]) == ("new", True)
    assert updated["certs"] == {"web": "arn:aws:acm:us-east-1:1:certificate/a"}
    assert [e.kind for e in stack.events.events[events:]] == ["maintenance", "cert", "rename"]
    assert submitted == ["new"]  # one rollout, of the app as it is now
    manifest = next(iter(stack.scheduler.manifests.values()))
    assert manifest.app_name == "new" and all(p.quantity == 0 for p in manifest.processes)


def test_removing_a_domain_as_a_deployer_is_refused_before_anything(
    bob: TestClient, client: TestClient, snapshot: Snapshot
) -> None:
    assert (
        client.post(f"/apps/{APP}/domains", json={"hostname": "www.acme.test"}).status_code == 201
    )
    before = snapshot()
    error(bob.delete(f"/apps/{APP}/domains/www.acme.test"), 403, "forbidden")
    error(bob.delete(f"/apps/{APP}/domains/nope.acme.test"), 403, "forbidden")
    assert snapshot() == before
    removed = client.delete(f"/apps/{APP}/domains/www.acme.test").json()
    assert (removed["hostname"], removed["app"]["name"]) == ("www.acme.test", APP)


def test_a_second_facade_call_in_one_request_is_refused(stack: Stack, deployed: str) -> None:
    """The rule holds by construction: a request's Context takes one call."""
    c = Context(empire=stack.empire, user=stack.user, message=None, range=None)

    async def main() -> None:
        await c.call(stack.empire.app, APP, by=stack.user)
        with pytest.raises(RuntimeError, match="one facade call per request: app after app"):
            await c.call(stack.empire.app, APP, by=stack.user)

    anyio.run(main)


def test_writes_run_in_a_worker_thread_and_reads_on_the_loop(stack: Stack) -> None:
    stack.empire.create(APP, by=stack.user)
    threads: dict[str, str] = {}

    async def main() -> None:
        threads["loop"] = threading.current_thread().name
        read = Context(empire=stack.empire, user=stack.user, message=None, range=None)
        assert (await read.call(stack.empire.app, APP, by=stack.user)).name == APP
        write = Context(empire=stack.empire, user=stack.user, message=None, range=None)

        def destroy(ident: str) -> None:
            threads["write"] = threading.current_thread().name
            raise NotFound("stop here")

        with pytest.raises(NotFound):
            await write.call(destroy, APP)
        with pytest.raises(RuntimeError, match="on the event loop"):
            Context(empire=stack.empire, user=stack.user, message=None, range=None).call_sync(
                destroy, APP
            )

    anyio.run(main)
    assert threads["write"] != threads["loop"]


def test_progress_events_on_the_wire() -> None:
    """Only the API knows the wire format: Docker's jsonmessage, Empire's `Status:` lines."""
    pulled = {"status": "Pulling from acme/api", "id": "v1", "progressDetail": {}}
    assert wire(Pulled(pulled)) == pulled
    assert wire(Status("Resolved acme/api:v1 to x")) == {
        "status": "Status: Resolved acme/api:v1 to x"
    }
    assert wire(ReleaseCreated(3, "api")) == {"status": "Status: Created new release v3 for api"}
    assert wire(PhaseOutput("migrated 3 tables")) == {"stream": "migrated 3 tables\n"}
    assert wire(Failed("release v3 of api failed: no")) == {
        "errorDetail": {"message": "release v3 of api failed: no"},
        "error": "release v3 of api failed: no",
    }
