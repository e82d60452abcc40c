"""Apps isolated on networks of their own (EMPIRE_ISOLATE_APPS): one app reaches another only
through the router, by name, never directly; a removed app's network goes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors
import pytest

from empire.model import App, Outcome, Port, Process, Size
from empire.router.router import EngineRouter
from empire.scheduler.docker import DockerScheduler
from empire.scheduler.kit.api import engine_api
from support.busybox import http_get
from support.services import free_port

from .conftest import unique

MB = 1024 * 1024
SIZE = Size(cpu_shares=128, memory=64 * MB, nproc=64)
WEB = (
    "sh",
    "-c",
    "mkdir -p /www && echo $EMPIRE_APPNAME > /www/index.html && exec httpd -f -p 80 -h /www",
)


def app(name: str) -> App:
    now = datetime.now(UTC)
    return App(id=str(uuid.uuid4()), name=name, created_at=now, updated_at=now)


@pytest.fixture
def isolated(
    docker_client: docker.DockerClient, docker_network: str, tmp_path: Path
) -> Iterator[DockerScheduler]:
    name = unique("empire-test-router")
    router = EngineRouter(
        engine_api(docker_client),
        network=docker_network,
        state=tmp_path / "router",
        listen=f"127.0.0.1:{free_port()}",
        tls_listen=None,
        name=name,
        drain=0.5,
    )
    scheduler = DockerScheduler(
        docker_client, router, network=docker_network, health_timeout=20, isolate=True
    )
    yield scheduler
    router.close()
    for network in docker_client.networks.list():
        if network.name.startswith(f"{docker_network}-"):
            for container in network.attrs.get("Containers") or {}:
                with contextlib.suppress(docker.errors.APIError):
                    docker_client.api.disconnect_container_from_network(container, network.id, True)
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.containers.get(name).remove(force=True)


def test_an_app_reaches_another_only_through_the_router(
    docker_client: docker.DockerClient, isolated: DockerScheduler, make_manifest, docker_network
) -> None:
    acme, other = app("acme"), app("other")
    web = Process("web", WEB, 1, SIZE, ports=(Port(80, 80, "http"),))
    for each in (acme, other):
        verdict = isolated.submit(make_manifest(each, 1, {"web": web}))
        assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason

    def container(of: App) -> docker.models.containers.Container:
        [found] = docker_client.containers.list(filters={"label": f"empire.app.id={of.id}"})
        return found

    acme_box, other_box = container(acme), container(other)
    networks = {
        each.name: set(box.attrs["NetworkSettings"]["Networks"])
        for each, box in ((acme, acme_box), (other, other_box))
    }
    assert networks == {
        "acme": {f"{docker_network}-{acme.id[:12]}"},
        "other": {f"{docker_network}-{other.id[:12]}"},
    }
    other_ip = next(iter(other_box.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]

    script = (
        http_get("other")
        + f"; if nc -w 2 {other_ip} 80 </dev/null 2>/dev/null"
        + "; then echo direct; else echo blocked; fi"
    )
    out = acme_box.exec_run(["sh", "-c", script]).output.decode().split()
    assert out == ["other", "blocked"]

    isolated.remove(other.id)
    assert not [n for n in docker_client.networks.list() if n.name.endswith(other.id[:12])]
    out = acme_box.exec_run(["sh", "-c", http_get("acme")]).output.decode()
    assert out.strip() == "acme"
