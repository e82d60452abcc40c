"""The metrics' ECS reader on the moto server: what DescribeServices says, per process type,
through the wiring (EMPIRE_SCHEDULER=ecs picks it)."""

from __future__ import annotations

from pathlib import Path

from ecs.ecs_support import Infra
from empire.events import MemorySink
from empire.images.fake import FakeImages
from empire.metrics.ecs import EcsReader
from empire.metrics.registry import Collector, Metrics
from empire.model import ScaleUpdate
from empire.settings import Settings
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from empire.wiring import build_empire

PROCFILE = b"web:\n  command: ./bin/web\nworker:\n  command: ./bin/worker\n"


def test_running_and_desired_counts_come_from_describe_services(
    infra: Infra, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake"}
    )
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    metrics = Metrics()
    empire = build_empire(
        settings,
        store=store,
        images=FakeImages({"acme/acme:v1": PROCFILE}),
        scheduler=infra.scheduler(),
        events=MemorySink(),
        metrics=metrics,
    )
    alice, _ = empire.create_user("alice", admin=True)
    empire.deploy("acme/acme:v1", by=alice)
    empire.scale("acme", [ScaleUpdate("worker", 2)], by=alice)
    reader = EcsReader(empire.scheduler.inner)  # type: ignore[attr-defined]
    app_id = empire.app("acme", by=alice).id
    readings = {r.process: r for r in reader.read({app_id: "acme"})}
    services = infra.services()
    assert set(readings) == {"web", "worker"}
    for process, reading in readings.items():
        service = services[f"acme_{process}"]
        assert reading.desired == service["desiredCount"]
        assert reading.running == service["runningCount"]
        assert (reading.cpu_seconds, reading.memory_bytes) == (None, None)  # CloudWatch's
    assert (readings["web"].desired, readings["worker"].desired) == (1, 2)
    assert reader.read({}) == []  # apps Empire does not run make no readings

    Collector(metrics, reader, interval=60).run_once()
    (web, worker) = empire.app_metrics("acme", by=alice).processes
    assert (worker.type, worker.desired) == ("worker", 2)
    assert web.cpu_percent is None and web.memory_bytes is None
