"""The engine readers, on engines faked at the API's edge (the real Docker engine is read in
tests/integration/test_metrics.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from empire.metrics.readers import DockerReader, TasksReader, cpu_seconds, memory_bytes
from empire.metrics.swarm import SwarmReader
from empire.metrics.window import ProcessReading
from empire.scheduler import labels

APPS = {"a1": "acme"}


def container(ident: str, process: str, state: str = "running", app: str = "a1") -> dict[str, Any]:
    name = APPS.get(app, app)
    return {
        "Id": ident,
        "Names": [f"/empire-{name}-{process}-1-v1-{ident}"],  # as the Docker backend names it
        "State": state,
        "Labels": {
            labels.APP_ID: app,
            labels.APP: name,
            labels.PROCESS: process,
            labels.KIND: labels.SERVICE,
        },
    }


def stats(cpu_ns: int, usage: int, inactive: int = 0) -> dict[str, Any]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
        "memory_stats": {"usage": usage, "stats": {"inactive_file": inactive}},
    }


class Engine:
    def __init__(self) -> None:
        self.listed: list[dict[str, Any]] = []
        self.restarts: dict[str, int] = {}
        self.samples: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, ...]] = []

    def containers(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> Any:
        self.calls.append(("containers", str(all), repr(filters)))
        return self.listed

    def inspect_container(self, container: str) -> Any:
        if container not in self.restarts:
            raise RuntimeError("No such container")
        return {"RestartCount": self.restarts[container]}

    def stats(
        self, container: str, decode: bool | None = None, stream: bool = True, one_shot: Any = None
    ) -> Any:
        self.calls.append(("stats", container, str(stream), str(one_shot)))
        return self.samples[container]


def by_process(readings: list[ProcessReading]) -> dict[str, ProcessReading]:
    return {r.process: r for r in readings}


def test_docker_reader_sums_a_process_types_containers() -> None:
    engine = Engine()
    engine.listed = [container("c1", "web"), container("c2", "web"), container("c3", "worker")]
    engine.restarts = {"c1": 0, "c2": 2, "c3": 0}
    engine.samples = {
        "c1": stats(1_000_000_000, 50, 10),
        "c2": stats(2_000_000_000, 70),
        "c3": stats(500_000_000, 5),
    }
    reader = DockerReader(engine)
    got = by_process(reader.read(APPS))
    assert got["web"] == ProcessReading("a1", "acme", "web", 2, None, 3.0, 110, 2)
    assert got["worker"] == ProcessReading("a1", "acme", "worker", 1, None, 0.5, 5, 0)
    # Non-streaming, one-shot stats: one answer each, never a stream.
    assert ("stats", "c1", "False", "True") in engine.calls
    assert "'label': ['empire.kind=service']" in engine.calls[0][2]


def test_docker_reader_keeps_cpu_and_restarts_when_a_container_is_replaced() -> None:
    engine = Engine()
    engine.listed = [container("c1", "web")]
    engine.restarts = {"c1": 1}
    engine.samples = {"c1": stats(4_000_000_000, 10)}
    reader = DockerReader(engine)
    assert by_process(reader.read(APPS))["web"].cpu_seconds == 4.0
    engine.samples["c1"] = stats(5_000_000_000, 10)
    engine.restarts["c1"] = 3
    assert by_process(reader.read(APPS))["web"].restarts == 3
    # c1 replaced by c9: its 5 s stay, c9's own come on top.
    engine.listed = [container("c9", "web")]
    engine.restarts = {"c9": 0}
    engine.samples = {"c9": stats(1_000_000_000, 10)}
    web = by_process(reader.read(APPS))["web"]
    assert (web.cpu_seconds, web.restarts) == (6.0, 3)


def test_docker_reader_skips_other_apps_stopped_and_vanished_containers() -> None:
    engine = Engine()
    engine.listed = [
        container("c1", "web", app="other"),  # not an app Empire runs
        container("c2", "web", state="exited"),
        container("c3", "web"),  # removed between the list and its inspect
        {"Id": "c4", "State": "running", "Labels": {}},
    ]
    reader = DockerReader(engine)
    got = by_process(reader.read(APPS))
    assert got["web"] == ProcessReading("a1", "acme", "web", 1, None, 0.0, 0, 0)
    assert not [c for c in engine.calls if c[0] == "stats" and c[1] in ("c1", "c2")]


def test_docker_reader_measures_at_most_max_instances_a_round() -> None:
    engine = Engine()
    engine.listed = [container(f"c{n}", "web") for n in range(10)]
    engine.restarts = {f"c{n}": 0 for n in range(10)}
    engine.samples = {f"c{n}": stats(1_000_000_000, 1) for n in range(10)}
    reader = DockerReader(engine, max_instances=3)
    web = by_process(reader.read(APPS))["web"]
    assert web.running == 10  # all counted
    assert len([c for c in engine.calls if c[0] == "stats"]) == 3


def test_stats_documents_of_cgroup_v1_and_missing_fields() -> None:
    assert (
        memory_bytes({"memory_stats": {"usage": 100, "stats": {"total_inactive_file": 30}}}) == 70
    )
    assert memory_bytes({"memory_stats": {}}) is None
    assert cpu_seconds({}) is None


class Swarm:
    def __init__(self, services: list[Any], tasks: list[Any]) -> None:
        self._services, self._tasks = services, tasks

    def services(self, filters: Mapping[str, Any] | None = None) -> Any:
        return self._services

    def tasks(self, filters: Mapping[str, Any] | None = None) -> Any:
        return self._tasks


def service(ident: str, process: str, replicas: int) -> dict[str, Any]:
    return {
        "ID": ident,
        "Spec": {
            "Labels": {labels.APP_ID: "a1", labels.PROCESS: process},
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    }


def task(ident: str, service_id: str, state: str, desired: str = "running") -> dict[str, Any]:
    return {
        "ID": ident,
        "ServiceID": service_id,
        "Status": {"State": state},
        "DesiredState": desired,
    }


def test_swarm_reader_counts_tasks_and_each_failed_task_once() -> None:
    swarm = Swarm(
        [service("s1", "web", 2), service("s2", "worker", 0)],
        [
            task("t1", "s1", "running"),
            task("t2", "s1", "failed", "shutdown"),
            task("t3", "s1", "running", "shutdown"),  # being stopped
            task("t4", "s9", "running"),  # not Empire's
        ],
    )
    reader = SwarmReader(swarm)
    got = by_process(reader.read(APPS))
    assert got["web"] == ProcessReading("a1", "acme", "web", 1, desired=2, restarts=1)
    assert got["worker"] == ProcessReading("a1", "acme", "worker", 0, desired=0, restarts=0)
    swarm._tasks.append(task("t5", "s1", "rejected", "shutdown"))
    assert by_process(reader.read(APPS))["web"].restarts == 2  # t2 not counted twice
    swarm._tasks = [task("t6", "s1", "running")]  # the history rolled over
    assert by_process(reader.read(APPS))["web"].restarts == 2


def test_tasks_reader_counts_up_tasks_but_one_offs() -> None:
    class Tasks:
        def tasks(self, app_id: str) -> list[Any]:
            from datetime import UTC, datetime

            from empire.model import Task

            now = datetime.now(UTC)
            return [
                Task("v1.web.1", "1", "web", 1, "x", "up", "h", None, now),
                Task("v1.web.2", "2", "web", 1, "x", "starting", "h", None, now),
                Task("v1.run.1", "3", "run", 1, "x", "up", "h", None, now),
            ]

    got = TasksReader(Tasks()).read(APPS)  # type: ignore[arg-type]
    assert got == [ProcessReading("a1", "acme", "web", 1)]


def test_a_build_steps_container_carrying_an_apps_labels_is_not_counted() -> None:
    engine = Engine()
    engine.listed = [container("c1", "web"), {**container("c9", "web"), "Names": ["/eager_x"]}]
    engine.restarts = {"c1": 0, "c9": 0}
    engine.samples = {"c1": stats(10, 5), "c9": stats(10, 5)}
    got = by_process(DockerReader(engine).read(APPS))
    assert got["web"].running == 1


def test_containers_beyond_the_budget_keep_their_baselines() -> None:
    """With more containers than one round measures, a container left out this round is not
    counted from zero when it is measured again."""
    engine = Engine()
    engine.listed = [container("c1", "web"), container("c2", "web")]
    engine.restarts = {"c1": 0, "c2": 0}
    engine.samples = {"c1": stats(1_000_000_000, 1), "c2": stats(1_000_000_000, 1)}
    reader = DockerReader(engine, max_instances=1)
    totals = []
    for _ in range(4):
        engine.listed.reverse()  # each round measures the other one
        totals.append(by_process(reader.read(APPS))["web"].cpu_seconds)
    assert totals == [1.0, 2.0, 2.0, 2.0]  # no CPU was used after the first sight of each
