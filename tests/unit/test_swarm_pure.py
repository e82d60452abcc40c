"""The swarm backend's pure parts: service specs, the router's Caddy config, names, parsing.

They need no cluster, so they are unit tests (the swarm tier has the cluster).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from empire import manifest as manifests
from empire.model import App, Config, HealthCheck, Port, Process, Release, Size, Slug
from empire.scheduler import Manifest, labels
from empire.scheduler.kit.times import parse_time
from empire.scheduler.swarm import engine, membership, spec, tasks

MB = 1024 * 1024
SIZE = Size(512, 128 * MB, 100)
IMAGE = "10.0.0.1:5000/acme@sha256:" + "a" * 64


def build(
    version: int = 1, quantity: int = 2, domains: tuple[str, ...] = (), **env: str
) -> Manifest:
    now = datetime.now(UTC)
    app = App(id="app-1", name="acme", created_at=now, updated_at=now)
    formation = {
        "web": Process(
            "web",
            ("httpd", "-f", "-p", "$PORT"),
            quantity,
            SIZE,
            ports=(Port(80, 8080),),
            healthcheck=HealthCheck("http", "health", interval=2.0, timeout=1.5, grace=4.0),
        ),
        "worker": Process("worker", ("sleep", "1000"), 1, SIZE),
    }
    release = Release(
        id=str(uuid.uuid4()),
        app_id=app.id,
        app_name=app.name,
        version=version,
        slug=Slug("s", IMAGE, b""),
        config=Config("c", app.id, dict(env), now),
        formation=formation,
        description="",
        created_at=now,
        updated_at=now,
    )
    return manifests.build(app, release, domains)


def desired(manifest: Manifest, name: str = "web", force: int = 0) -> spec.Desired:
    process = manifest.process(name)
    assert process is not None
    return spec.service(
        manifest, process, network="empire", monitor=5, stop_grace=10, force_update=force
    )


def test_a_service_spec_carries_size_health_updates_and_aliases():
    web = desired(build())
    container = web.spec["TaskTemplate"]["ContainerSpec"]

    assert web.name == "acme_web" and web.replicas == 2
    assert container["Image"] == IMAGE
    assert container["Args"] == ["httpd", "-f", "-p", "8080"]
    assert container["Healthcheck"] == {
        "Test": [
            "CMD",
            "timeout",
            "2",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1:8080/health",
        ],
        "Interval": 2_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 3,
        "StartPeriod": 4_000_000_000,
    }
    assert web.spec["TaskTemplate"]["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 128 * MB, "Pids": 100}
    }
    assert web.spec["TaskTemplate"]["Networks"] == [
        {"Target": "empire", "Aliases": ["acme", "web.acme"]}
    ]
    assert web.spec["UpdateConfig"] == {
        "Parallelism": 1,
        "Delay": 0,
        "FailureAction": "rollback",
        "Monitor": 5_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "start-first",
    }
    assert web.spec["RollbackConfig"]["Order"] == "start-first"
    assert web.spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert container["Labels"][labels.SPEC] == web.template_hash
    assert web.spec["Labels"][labels.CONFIG] == web.config_hash

    worker = desired(build(), "worker")
    assert "Healthcheck" not in worker.spec["TaskTemplate"]["ContainerSpec"]
    assert worker.spec["TaskTemplate"]["Networks"] == [{"Target": "empire"}]


def test_a_tcp_check_uses_busybox_nc_and_ports_get_one_by_default():
    process = Process("web", ("x",), 1, SIZE, ports=(Port(80, 80),))
    check = spec.healthcheck(manifests.build(_app(), _release(process)).processes[0])
    assert check is not None
    assert check["Test"] == ["CMD", "timeout", "2", "nc", "127.0.0.1", "80", "-e", "true"]
    assert check["Interval"] == 1_000_000_000


def test_what_changes_the_hashes():
    base = desired(build(quantity=2))
    scaled = desired(build(quantity=5))
    assert (scaled.template_hash, scaled.config_hash) == (base.template_hash, base.config_hash)
    assert scaled.replicas == 5
    assert desired(build(version=2)).template_hash != base.template_hash  # a new release
    assert desired(build(COLOR="red")).template_hash != base.template_hash
    forced = desired(build(), force=3)
    assert forced.template_hash == base.template_hash
    assert forced.spec["TaskTemplate"]["ForceUpdate"] == 3


def test_a_one_off_is_a_job_that_never_restarts():
    manifest = build()
    process = manifest.processes[0]
    document = spec.one_off(manifest, process, index=4, network="empire", stop_grace=10)
    assert document["Name"] == "acme__run_4"
    assert document["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    template = document["TaskTemplate"]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["ContainerSpec"]["Healthcheck"] == {"Test": ["NONE"]}
    assert template["ContainerSpec"]["Labels"][labels.KIND] == labels.RUN
    assert template["ContainerSpec"]["Labels"][labels.INDEX] == "4"
    assert template["Networks"] == [{"Target": "empire"}]


def test_node_names_when_every_engine_says_vm():
    nodes = [
        {"ID": "n1", "Description": {"Hostname": "vm"}, "Status": {"Addr": "10.0.0.1"}},
        {"ID": "n2", "Description": {"Hostname": "vm"}, "Status": {"Addr": "10.0.0.2"}},
        {"ID": "n3", "Description": {"Hostname": "db"}, "Status": {"Addr": "10.0.0.3"}},
        {
            "ID": "n4",
            "Description": {"Hostname": "vm"},
            "Status": {"Addr": "10.0.0.4"},
            "Spec": {"Labels": {tasks.NODE_LABEL: "edge-1"}},
        },
    ]
    assert tasks.names(nodes) == {
        "n1": "vm@10.0.0.1",
        "n2": "vm@10.0.0.2",
        "n3": "db",
        "n4": "edge-1",
    }


def test_log_lines_and_times_parse():
    raw = (
        b"2026-11-26T10:00:00.123456789Z com.docker.swarm.node.id=n1,"
        b"com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hello world"
    )
    stamp, attrs, text = engine.parse_log_line(raw)  # type: ignore[misc]
    assert text == "hello world"
    assert attrs["com.docker.swarm.task.id"] == "t1"
    when = parse_time(stamp)
    assert when == datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None


def test_the_tasks_that_get_traffic_leave_before_swarm_replaces_them():
    service = {"Spec": {"Name": "acme_web", "Labels": {labels.PORT: "8080"}}}

    def task(ident: str, slot: int, state: str, created: str, desired: str = "running") -> dict:
        return {
            "ID": ident,
            "Slot": slot,
            "DesiredState": desired,
            "CreatedAt": created,
            "Status": {"State": state},
        }

    steady = [task("a", 1, "running", "1"), task("b", 2, "running", "1")]
    assert [e.host for e in membership.endpoints(service, steady)] == [
        "acme_web.1.a",
        "acme_web.2.b",
    ]
    assert {e.port for e in membership.endpoints(service, steady)} == {8080}
    # Slot 1's replacement is starting: its old task leaves now, before Swarm stops it.
    rolling = [*steady, task("c", 1, "starting", "2")]
    assert [e.host for e in membership.endpoints(service, rolling)] == ["acme_web.2.b"]
    # ... and joins once running; what Swarm shut down is gone.
    done = [
        task("a", 1, "running", "1", "shutdown"),
        task("b", 2, "running", "1"),
        task("c", 1, "running", "2"),
    ]
    assert [e.host for e in membership.endpoints(service, done)] == [
        "acme_web.1.c",
        "acme_web.2.b",
    ]
    # The last task that serves stays while its replacement starts (one replica).
    alone = [task("a", 1, "running", "1"), task("c", 1, "starting", "2")]
    assert [e.host for e in membership.endpoints(service, alone)] == ["acme_web.1.a"]
    # A process without ports is never routed.
    assert membership.endpoints({"Spec": {"Name": "acme_worker", "Labels": {}}}, steady) == []


def _app() -> App:
    now = datetime.now(UTC)
    return App(id="app-1", name="acme", created_at=now, updated_at=now)


def _release(process: Process) -> Release:
    now = datetime.now(UTC)
    return Release(
        id="r",
        app_id="app-1",
        app_name="acme",
        version=1,
        slug=Slug("s", IMAGE, b""),
        config=Config("c", "app-1", {}, now),
        formation={process.name: process},
        description="",
        created_at=now,
        updated_at=now,
    )
