"""Each scheduler is chosen by EMPIRE_SCHEDULER; building one sends nothing to an engine."""

from __future__ import annotations

from pathlib import Path

from empire.core import utcnow
from empire.scheduler.swarm import SwarmRouter, SwarmScheduler
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
    assert isinstance(build_router(settings), SwarmRouter)
    scheduler = build_scheduler(settings, utcnow)
    assert isinstance(scheduler, SwarmScheduler)
    assert (scheduler.network, scheduler.registry) == ("empire-swarm", "10.0.0.1:5000")
