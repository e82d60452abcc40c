"""Focused tests of what the fault tests found (tests/unit/test_failpoints.py: their failpoints).

- A container left unarmed by a rollout that never finished (Empire killed mid-rollout) is
  health-checked and armed by the next submit, or removed with a rolled-back verdict when it
  is not healthy; never routed unchecked (`Rollout._unchecked`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import pytest

from empire import manifest as manifests
from empire.model import App, Config, Exposure, Outcome, Port, Process, Release, Slug
from empire.router import NoRouter
from empire.scheduler import Manifest, labels
from empire.scheduler.docker import DockerScheduler, containers
from empire.scheduler.docker.instances import list_instances
from empire.scheduler.kit import containers as kit

# -- a rollout interrupted mid-way -----------------------------------------------------------


@pytest.fixture
def network(docker_client: docker.DockerClient) -> Iterator[str]:
    name = f"empire-fx-net-{uuid.uuid4().hex[:8]}"
    yield name
    for c in docker_client.containers.list(
        all=True, filters={"label": f"empire.network={name}"}, ignore_removed=True
    ):
        with contextlib.suppress(docker.errors.APIError):
            c.remove(force=True)
    for net in docker_client.networks.list(names=[name]):
        if net.name == name:
            with contextlib.suppress(docker.errors.APIError):
                net.remove()


SERVE = ("sh", "-c", "echo $EMPIRE_RELEASE- > /www/index.html; exec httpd -f -p 80 -h /www")
MUTE = ("sleep", "3600")  # runs, never listens


def _manifest(app: App, version: int, image: str, command: tuple[str, ...]) -> Manifest:
    now = datetime.now(UTC)
    web = Process("web", command, quantity=1, ports=(Port(80, 80),))
    release = Release(
        id=f"{app.id}-v{version}",
        app_id=app.id,
        app_name=app.name,
        version=version,
        slug=Slug(f"slug-{version}", image, b""),
        config=Config(f"config-{version}", app.id, {}, now),
        formation={"web": web},
        description=f"v{version}",
        created_at=now,
        updated_at=now,
    )
    public = dataclasses.replace(app, exposure=Exposure.PUBLIC)
    built = manifests.build(public, release, ("acme.fx.test",))
    processes = tuple(dataclasses.replace(p, command=command) for p in built.processes)
    return dataclasses.replace(built, processes=processes)


def _hosts(router: NoRouter, app_id: str) -> tuple[str, ...]:
    route = router.current(app_id)
    return tuple(e.host for e in route.endpoints("web")) if route else ()


def _interrupted(api: Any, built: Manifest, network: containers.Network) -> str:
    """Start v2's web container as a rollout does, then stop there (no check, no arming)."""
    process = built.processes[0]
    container_id = containers.create(
        api,
        built,
        process,
        kind=labels.SERVICE,
        index=1,
        nonce="",
        placement=network.place(built.app_id),
    )
    kit.start(api, container_id)
    return container_id


def _policy(client: docker.DockerClient, container_id: str) -> str:
    return str(client.api.inspect_container(container_id)["HostConfig"]["RestartPolicy"]["Name"])


@pytest.mark.parametrize("healthy", [True, False], ids=["healthy", "never-healthy"])
def test_a_rollout_left_unchecked_is_checked_before_it_is_routed(
    healthy: bool, docker_client: docker.DockerClient, images: Any, network: str
) -> None:
    app = App(
        id=str(uuid.uuid4()),
        name=f"fx{uuid.uuid4().hex[:6]}",
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
        exposure=Exposure.PUBLIC,
    )
    router = NoRouter()  # keeps the table in memory

    def scheduler() -> DockerScheduler:  # a new Empire process: nothing in memory
        return DockerScheduler(
            docker_client, router, network=network, health_timeout=3, min_running=0.5, drain=0.1
        )

    v1 = _manifest(app, 1, images.web, SERVE)
    assert scheduler().submit(v1).outcome is Outcome.SUCCEEDED
    (old,) = _hosts(router, app.id)
    v2 = _manifest(app, 2, images.web, SERVE if healthy else MUTE)
    left = _interrupted(docker_client.api, v2, scheduler().network)
    assert _policy(docker_client, left) == "no"

    verdict = scheduler().submit(v2)

    found = list_instances(docker_client.api, f"{labels.APP_ID}={app.id}")
    if healthy:
        assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
        assert [i.id for i in found] == [left]  # kept, not started again
        assert _policy(docker_client, left) == "unless-stopped"  # and armed
        assert _hosts(router, app.id) == (found[0].name,)
    else:
        assert verdict.outcome is Outcome.ROLLED_BACK, verdict.reason
        assert "web.1 was not healthy after 3s" in verdict.reason
        assert left not in [i.id for i in found]  # removed, never routed
        assert [i.release for i in found] == [1]
        assert _hosts(router, app.id) == (old,)
