"""Builds from source on the real two-node swarm, pushed to the tier's registry, pulled by nodes.

Empire is built by `empire.wiring` with the Docker images backend and the Docker builder on the
manager's engine (EMPIRE_DOCKER_HOST), EMPIRE_REGISTRY set to the cluster's registry, and the
tier's SwarmScheduler. A source tarball goes through the API (`POST /apps/{app}/builds`):
the manager builds it, pushes `<registry>/<app>:<version>`, and the release is made from
`<registry>/<app>@<digest>`. Scaled to two, Swarm spreads web over both nodes: the worker
never had the image (it was built on the manager), so its task runs only if the worker pulled
it from the registry, and the router reaches that task (each task answers its hostname).
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from empire.events import MemorySink
from empire.scheduler.swarm import SwarmScheduler
from empire.settings import Settings
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from empire.wiring import build_api, build_empire
from support.waiting import wait_for
from swarm.cluster import BUSYBOX, Cluster
from swarm.conftest import get

DOCKERFILE = (
    b"FROM scratch\nCOPY busybox /bin/busybox\n"
    b'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    b"RUN mkdir -p /www /tmp\nWORKDIR /app\nCOPY Procfile Procfile\n"
)
PROCFILE = (
    b'web: sh -c "echo $EMPIRE_RELEASE-$HOSTNAME > /www/index.html; '
    b'exec httpd -f -p $PORT -h /www"\n'
)


def source() -> bytes:
    """The app's source: a tar with a Dockerfile, a Procfile and the static busybox."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("Dockerfile", DOCKERFILE), ("Procfile", PROCFILE)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        archive.add(str(BUSYBOX), arcname="busybox")
    return buffer.getvalue()


@pytest.fixture
def api(cluster: Cluster, scheduler: SwarmScheduler, tmp_path: Path) -> Iterator[TestClient]:
    """The API of an Empire that builds on the manager and pushes to the cluster's registry."""
    settings = Settings.from_env(
        {
            "EMPIRE_DATA_DIR": str(tmp_path / "empire"),
            "EMPIRE_SCHEDULER": "fake",  # the tier's SwarmScheduler is given below
            "EMPIRE_IMAGES": "docker",
            "EMPIRE_DOCKER_HOST": cluster.manager.base_url,
            "EMPIRE_REGISTRY": cluster.registry,
            "EMPIRE_BUILD_TIMEOUT": "120",
        }
    )
    settings.data_dir.mkdir(parents=True)
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    empire = build_empire(settings, store=store, scheduler=scheduler, events=MemorySink())
    _, token = empire.create_user("alice", admin=True)
    client = TestClient(build_api(settings, empire), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    try:
        yield client
    finally:
        for app in client.get("/apps").json():
            client.delete(f"/apps/{app['name']}")
        client.close()
        store.engine.dispose()
        shutil.rmtree(tmp_path / "empire", ignore_errors=True)


def stream(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_a_build_is_pushed_to_the_registry_and_the_worker_pulls_it(
    api: TestClient, cluster: Cluster, scheduler: SwarmScheduler
) -> None:
    name = f"built-{cluster.id}"
    created = api.post("/apps", json={"name": name})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    host = f"{name}.test"
    assert api.post(f"/apps/{name}/domains", json={"hostname": host}).status_code == 201
    repository = f"{cluster.registry}/{name}"
    assert cluster.worker.api.images(name=repository) == []

    response = api.post(
        f"/apps/{name}/builds", content=source(), headers={"Content-Type": "application/x-tar"}
    )

    assert response.status_code == 200, response.text
    lines = stream(response)
    assert not [line for line in lines if "error" in line], lines
    [build] = api.get(f"/apps/{name}/builds").json()
    assert build["status"] == "succeeded", build
    image = build["image"]
    assert image.startswith(f"{repository}@sha256:"), image
    assert any(f"Pushing {repository}:" in str(line.get("stream")) for line in lines), lines
    release = api.get(f"/apps/{name}/releases/1").json()
    assert release["status"] == "succeeded", release
    # The registry holds the build's tag, and it points at the digest deployed.
    listed = f"http://{cluster.registry}/v2/{name}/tags/list"
    tags = cluster.manager.sh(["curl", "-s", "-m", "5", listed])
    assert json.loads(tags)["tags"] == [build["id"][:8]]

    two = {"updates": [{"type": "web", "quantity": 2}]}
    scaled = api.patch(f"/apps/{name}/formation", json=two)
    assert scaled.status_code == 200, scaled.text

    def both_nodes() -> set[str] | None:
        webs = [t for t in scheduler.tasks(app_id) if t.process == "web" and t.state == "up"]
        nodes = {t.host for t in webs}
        return nodes if len(webs) == 2 and len(nodes) == 2 else None

    nodes = wait_for(both_nodes, 90, "web up on both nodes")
    assert nodes == {cluster.host(cluster.manager), cluster.host(cluster.worker)}
    # The worker pulled the image by digest from the registry: it has exactly that image.
    pulled = cluster.worker.api.inspect_image(image)
    assert image.split("@", 1)[1] in {d.split("@", 1)[1] for d in pulled["RepoDigests"]}
    service = {"label": f"com.docker.swarm.service.name={name}_web"}
    on_worker = {
        c.attrs["Config"]["Hostname"]: c.attrs["Config"]["Image"]
        for c in cluster.worker.client.containers.list(filters=service)
    }
    assert on_worker, "no web container on the worker"
    assert all(ref.endswith(image.split("@", 1)[1]) for ref in on_worker.values()), on_worker

    # Through the router, the worker's task answers too.
    seen: set[str] = set()

    def worker_answered() -> bool:
        code, body = get(cluster, host)
        if code == 200:
            seen.add(body)
        return any(body.endswith(f"-{hostname}") for body in seen for hostname in on_worker)

    wait_for(worker_answered, 60, f"{host}'s task on the worker to answer through the router")
    assert all(body.startswith("v") for body in seen), seen
