"""Metrics for real: a real Prometheus scrapes a real `empire server` on the Docker engine.

The server reads the engine every second (EMPIRE_METRICS_INTERVAL=1); Prometheus scrapes it
every second with the metrics token. A query to Prometheus's HTTP API then returns the app's
series: its web process running, its memory and CPU from the engine's stats, the API's
requests by route template. /metrics refuses anonymous and non-admin callers, and the per-app
view shows a viewer only their own apps.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from support.prometheus import Prometheus
from support.server import EmpireServer
from support.services import free_port
from support.waiting import wait_for

WEB = b'web: sh -c "mkdir -p /www; echo hi > /www/index.html; exec httpd -f -p $PORT -h /www"\n'
SCRAPER = "scraper-" + "x" * 40


@contextlib.contextmanager
def empire_server(
    tmp_path: Path, docker_client: docker.DockerClient, *, router: bool
) -> Iterator[EmpireServer]:
    """`empire server` on the Docker engine; with `router`, the router container (Caddy) on
    ports of its own, else none."""
    network = f"empire-it-{uuid.uuid4().hex[:8]}"
    routing = (
        {
            "EMPIRE_ROUTER_CONTAINER": f"{network}-router",
            "EMPIRE_ROUTER_LISTEN": f"127.0.0.1:{free_port()}",
            "EMPIRE_ROUTER_TLS_LISTEN": f"127.0.0.1:{free_port()}",
        }
        if router
        else {"EMPIRE_ROUTER": "none"}
    )
    server = EmpireServer(
        tmp_path / "empire",
        env={
            "EMPIRE_SCHEDULER": "docker",
            "EMPIRE_IMAGES": "docker",
            **routing,
            "EMPIRE_DOCKER_NETWORK": network,
            "EMPIRE_RECONCILE_INTERVAL": "2",
            "EMPIRE_HEALTH_TIMEOUT": "20",
            "EMPIRE_STOP_TIMEOUT": "2",
            "EMPIRE_METRICS_INTERVAL": "1",
            "EMPIRE_METRICS_TOKEN": SCRAPER,
        },
    )
    server.data_dir.mkdir(parents=True)
    try:
        yield server
    finally:
        server.stop()
        for container in docker_client.containers.list(
            all=True, filters={"label": f"empire.network={network}"}
        ):
            container.remove(force=True)
        for net in docker_client.networks.list(names=[network]):
            net.remove()


@pytest.fixture
def server(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[EmpireServer]:
    with empire_server(tmp_path, docker_client, router=False) as server:
        yield server


@pytest.fixture
def routed_server(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[EmpireServer]:
    with empire_server(tmp_path, docker_client, router=True) as server:
        yield server


def value(prom: Prometheus, promql: str) -> float | None:
    result = prom.query(promql)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_apps_series(
    server: EmpireServer, busybox_image, tmp_path: Path
) -> None:
    alice = server.create_user("alice")
    bob = server.create_user("bob", admin=False)
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {alice}"})
    as_bob = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {bob}"})
    image = busybox_image(workdir="/app", procfile=WEB)
    app = image.tag.split(":")[0]
    with api.stream("POST", "/deploys", json={"image": image.tag}, timeout=120) as response:
        assert response.status_code == 200
        assert f"Release v1 of {app} succeeded" in response.read().decode()
    assert api.post("/apps", json={"name": "other-app"}).status_code == 201

    # Who may read /metrics.
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert as_bob.get("/metrics").status_code == 403
    assert api.get("/metrics").status_code == 200

    with Prometheus(
        tmp_path / "prometheus", target=f"127.0.0.1:{server.port}", token=SCRAPER
    ) as prom:
        running = f'empire_process_running{{app="{app}",process="web"}}'
        wait_for(
            lambda: value(prom, running) == 1.0,
            60,
            f"Prometheus to have {running} = 1",
            detail=lambda: f"targets: {prom.targets()}\n{prom.log_tail()}\n{server.log_tail()}",
        )
        assert value(prom, f'empire_process_desired{{app="{app}",process="web"}}') == 1.0
        memory = wait_for(
            lambda: value(prom, f'empire_process_memory_bytes{{app="{app}",process="web"}}'),
            30,
            "the web process's memory",
        )
        assert memory > 0
        cpu = value(prom, f'empire_process_cpu_seconds_total{{app="{app}",process="web"}}')
        assert cpu is not None and cpu >= 0
        deploys = value(
            prom, 'sum(empire_api_request_duration_seconds_count{route="POST /deploys"})'
        )
        assert deploys == 1.0
        releases = value(prom, 'empire_releases_total{kind="deploy",outcome="succeeded"}')
        assert releases == 1.0
        assert (value(prom, "empire_reconciler_rounds_total") or 0) >= 1
        (target,) = prom.targets()
        assert target["health"] == "up", target

    # The per-app view: bob sees only what he may view.
    assert (
        api.post(f"/apps/{app}/collaborators", json={"user": "bob", "role": "viewer"}).status_code
        == 201
    )
    view = as_bob.get(f"/apps/{app}/metrics")
    assert view.status_code == 200, view.text
    (web,) = view.json()["processes"]
    assert (web["type"], web["running"], web["desired"]) == ("web", 1, 1)
    assert web["memory_bytes"] > 0
    assert as_bob.get("/apps/other-app/metrics").status_code == 404


# Healthy at once, then exits once after a few seconds: the engine restarts the container (its
# restart policy once healthy), and the second run serves for good.
ONCE = (
    b'web: sh -c "mkdir -p /www; echo hi > /www/index.html; '
    b"if [ -e /tmp/crashed ]; then exec httpd -f -p $PORT -h /www; fi; "
    b'touch /tmp/crashed; httpd -p $PORT -h /www; sleep 6; exit 1"\n'
)


def test_a_restart_by_the_engine_is_counted(server: EmpireServer, busybox_image) -> None:
    alice = server.create_user("alice")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {alice}"})
    image = busybox_image(workdir="/app", procfile=ONCE)
    app = image.tag.split(":")[0]
    with api.stream("POST", "/deploys", json={"image": image.tag}, timeout=120) as response:
        assert f"Release v1 of {app} succeeded" in response.read().decode()

    def web() -> dict[str, object] | None:
        processes = api.get(f"/apps/{app}/metrics").json()["processes"]
        return next((p for p in processes if p["type"] == "web"), None)

    counted = wait_for(
        lambda: (p := web()) is not None and p["restarts_total"] == 1 and p,
        60,
        "the engine's restart of web counted",
        detail=server.log_tail,
    )
    assert counted["restarts"] == 1  # within the last 5 minutes
    text = api.get("/metrics").text
    assert f'empire_process_restarts_total{{app="{app}",process="web"}} 1.0' in text


def test_the_routers_config_loads_are_counted(routed_server: EmpireServer) -> None:
    server = routed_server
    alice = server.create_user("alice")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {alice}"})

    def reloads() -> float | None:
        for line in api.get("/metrics").text.splitlines():
            if line.startswith("empire_router_reloads_total "):
                return float(line.split()[1])
        return None

    # The router container comes up and Caddy is given its config: one load at least.
    loads = wait_for(lambda: (reloads() or 0) >= 1 and reloads(), 60, "a router config load")
    assert loads is not None and loads >= 1
