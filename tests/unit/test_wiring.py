"""Each scheduler is chosen by EMPIRE_SCHEDULER; building one sends nothing to an engine."""

from __future__ import annotations

from pathlib import Path

from empire.core import utcnow
from empire.router.router import EngineRouter
from empire.scheduler.swarm import SwarmScheduler
from empire.settings import Settings
from empire.wiring import build_router, build_scheduler


def test_swarm_is_selectable(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "EMPIRE_DATA_DIR": str(tmp_path),
            "EMPIRE_SCHEDULER": "swarm",
            "EMPIRE_DOCKER_HOST": "unix:///nonexistent.sock",
            "EMPIRE_SWARM_REGISTRY": "10.0.0.1:5000",
        }
    )
    assert (settings.swarm_network, settings.swarm_monitor) == ("empire-swarm", 5.0)
    router = build_router(settings)
    assert isinstance(router, EngineRouter)
    assert (router.container.network, router.container.driver) == ("empire-swarm", "overlay")
    scheduler = build_scheduler(settings, utcnow)
    assert isinstance(scheduler, SwarmScheduler)
    assert (scheduler.network, scheduler.registry) == ("empire-swarm", "10.0.0.1:5000")


def test_docker_gets_the_router_container_on_its_bridge(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "EMPIRE_DATA_DIR": str(tmp_path),
            "EMPIRE_DOCKER_HOST": "unix:///nonexistent.sock",
            "EMPIRE_ROUTER_CONTAINER": "my-router",
            "EMPIRE_DRAIN_SECONDS": "3",
        }
    )
    router = build_router(settings)
    assert isinstance(router, EngineRouter)
    assert (router.container.network, router.container.driver) == ("empire", "bridge")
    assert (router.container.name, router.drain) == ("my-router", 3.0)
    assert router.container.state == tmp_path / "router"
