"""Fixtures of the swarm tier: a real two-node swarm, its registry, images, a router, a scheduler.

Everything is built once per session by `cluster.Cluster` (see there: namespaces, dedicated
engines, registry) and torn down at the end; the machine's main engine is never used. Images
are built FROM scratch with the static busybox on the manager's engine (legacy builder, no
pulls) and pushed to the registry in the manager's namespace, which both nodes reach. Traffic
goes only to addresses inside the two namespaces: the load loop runs in the manager's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from empire import manifest as manifests
from empire.model import App, Config, Exposure, Release, Slug
from empire.router.router import EngineRouter
from empire.scheduler import Manifest
from empire.scheduler.kit.api import engine_api
from empire.scheduler.swarm import SwarmScheduler
from swarm.cluster import (
    NETNS_DIR,
    Cluster,
    mounts_under,
    prerequisites,
    sweep_stale,
    web_image_of,
)

HERE = Path(__file__).resolve().parent
ROUTER_PORT = 8080  # inside the manager's namespace, where nothing else listens


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    missing = prerequisites()
    if missing:
        pytest.fail("the swarm tier needs: " + "; ".join(missing), pytrace=False)
    sweep_stale()
    # A SIGTERM (a CI timeout) becomes an interrupt, so the teardown below still runs.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with Cluster() as built:
            yield built
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not mounts_under(built.dir), f"mounts left under {built.dir}"
    assert not built.dir.exists(), f"{built.dir} is left"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def web_image(cluster: Cluster) -> str:
    """`<registry>/empire-swarm-web@sha256:…`: busybox, its applets, /www; no CMD."""
    return web_image_of(cluster)


@pytest.fixture(scope="session")
def router(cluster: Cluster) -> Iterator[EngineRouter]:
    """The router container on the overlay, built on the manager from this machine's parts."""
    made = EngineRouter(
        engine_api(cluster.manager.client),
        network=f"emp-sw-{cluster.id}",
        driver="overlay",
        state=cluster.dir / "router",
        listen=f"127.0.0.1:{ROUTER_PORT}",
        tls_listen=None,
        name=f"emp-sw-{cluster.id}-router",
        drain=1.0,
    )
    made.resolver()  # the network and the router exist from here on
    made.start()
    yield made
    made.close()


@pytest.fixture(scope="session")
def scheduler(cluster: Cluster, router: EngineRouter) -> Iterator[SwarmScheduler]:
    made = SwarmScheduler(
        cluster.manager.client,
        router,
        network=router.container.network,
        registry=cluster.registry,
        health_timeout=30.0,
        monitor=1.0,
        stop_grace=2.0,
        run_wait=20.0,
        poll_interval=0.2,
    )
    made.start()
    yield made
    made.close()


@pytest.fixture
def new_app(scheduler: SwarmScheduler) -> Iterator[Callable[..., App]]:
    """Make apps with unique names; remove everything they ran at teardown."""
    made: list[App] = []

    def make(prefix: str = "acme", **options: Any) -> App:
        now = datetime.now(UTC)
        app = App(
            id=str(uuid.uuid4()),
            name=f"{prefix}-{uuid.uuid4().hex[:6]}",
            created_at=now,
            updated_at=now,
            **options,
        )
        made.append(app)
        return app

    yield make
    for app in made:
        with contextlib.suppress(Exception):
            scheduler.remove(app.id)


@pytest.fixture
def make_manifest(web_image: str) -> Callable[..., Manifest]:
    """Build a Manifest with `empire.manifest.build` from a formation of `model.Process`es."""

    def make(
        app: App,
        version: int,
        formation: dict[str, Any],
        *,
        domains: tuple[str, ...] = (),
        config: dict[str, str] | None = None,
        image: str | None = None,
    ) -> Manifest:
        now = datetime.now(UTC)
        release = Release(
            id=f"{app.id}-v{version}",
            app_id=app.id,
            app_name=app.name,
            version=version,
            slug=Slug(id=f"slug-{version}", image=image or web_image, procfile=b""),
            config=Config(id=f"c{version}", app_id=app.id, vars=config or {}, created_at=now),
            formation=formation,
            description=f"v{version}",
            created_at=now,
            updated_at=now,
        )
        exposure = Exposure.PUBLIC if domains else Exposure.PRIVATE  # as adding one does
        return manifests.build(dataclasses.replace(app, exposure=exposure), release, domains)

    return make


class Load:
    """The bounded load loop (`load.py`) running inside the manager's namespace."""

    def __init__(self, cluster: Cluster, host: str, most: int = 6000, seconds: float = 90) -> None:
        argv = [
            "nsenter",
            f"--net={NETNS_DIR / cluster.manager.netns}",
            "--",
            sys.executable,
            str(HERE / "load.py"),
            f"http://127.0.0.1:{ROUTER_PORT}/",
            host,
            str(most),
            str(seconds),
        ]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "started"

    def result(self, more: int = 0) -> dict[str, Any]:
        """Stop the loop after `more` requests; its summary: total, failed, errors, bodies and
        why it stopped (`asked` when it ran until now)."""
        out, err = self.process.communicate(input=f"{more}\n" if more else "", timeout=60)
        assert self.process.returncode == 0, err
        summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return summary


@pytest.fixture
def load(cluster: Cluster) -> Iterator[Callable[..., Load]]:
    started: list[Load] = []

    def start(host: str, **options: Any) -> Load:
        started.append(Load(cluster, host, **options))
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)


def get(cluster: Cluster, host: str, path: str = "/") -> tuple[int, str]:
    """One request through the router, from inside the manager's namespace."""
    out = cluster.manager.sh(
        [
            "curl",
            "-s",
            "-m",
            "3",
            "-H",
            f"Host: {host}",
            "-w",
            "\n%{http_code}",
            f"http://127.0.0.1:{ROUTER_PORT}{path}",
        ],
        check=False,
    )
    body, _, code = out.rpartition("\n")
    return int(code or 0), body.strip()
