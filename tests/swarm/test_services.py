"""SwarmScheduler on a real two-node swarm: services, spread, discovery, runs, logs, errors."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from empire.errors import NotSupported, SchedulerError
from empire.model import HealthCheck, Outcome, Port, Process, Size
from empire.scheduler import STDOUT, LogQuery
from empire.scheduler.swarm import KEEP_RUNS
from support.waiting import wait_for
from swarm.cluster import web_image_of
from swarm.conftest import get

MB = 1024 * 1024
SMALL = Size(cpu_shares=256, memory=64 * MB, nproc=64)
WEB = (
    "sh",
    "-c",
    'mkdir -p /www && echo "$EMPIRE_RELEASE" > /www/index.html && exec httpd -f -p "$PORT" -h /www',
)
HTTP = HealthCheck("http", "/", interval=1.0, timeout=1.0)
LINE = re.compile(r"^(?P<time>\S+Z) (?P<app>[^\[]+)\[(?P<slot>[^\]]+)\]: (?P<text>.*)$")


def web(quantity: int = 2, command: tuple[str, ...] = WEB, **options: Any) -> Process:
    options.setdefault("healthcheck", HTTP)
    return Process("web", command, quantity, SMALL, ports=(Port(80, 80, "http"),), **options)


def sh(script: str) -> tuple[str, ...]:
    return ("sh", "-c", script)


def test_services_carry_the_spec_and_spread_over_both_nodes(
    cluster, scheduler, new_app, make_manifest
):
    app = new_app()
    unlimited = Size(cpu_shares=256, memory=64 * MB)  # no nproc, as PX and raw sizes
    worker = Process("worker", sh("echo worker up; exec sleep 3600"), 1, unlimited)
    manifest = make_manifest(app, 1, {"web": web(4), "worker": worker}, config={"COLOR": "red"})
    lines: list[str] = []

    verdict = scheduler.submit(manifest, lines.append)

    assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
    assert f"Status: web: creating service {app.name}_web (4 instances of v1)" in lines
    assert "Status: web: 4/4 healthy" in lines
    service = cluster.manager.api.inspect_service(f"{app.name}_web")["Spec"]
    template = service["TaskTemplate"]
    assert service["Mode"] == {"Replicated": {"Replicas": 4}}
    assert service["EndpointSpec"]["Mode"] == "dnsrr"
    assert service["UpdateConfig"]["Order"] == "start-first"
    assert service["UpdateConfig"]["FailureAction"] == "rollback"
    assert service["UpdateConfig"]["Parallelism"] == 1
    assert service["RollbackConfig"]["Order"] == "start-first"
    assert template["Resources"]["Limits"] == {
        "NanoCPUs": 250_000_000,
        "MemoryBytes": 64 * MB,
        "Pids": 64,
    }
    assert set(template["ContainerSpec"]["CapabilityDrop"]) == {
        "NET_RAW",
        "MKNOD",
        "AUDIT_WRITE",
        "SYS_CHROOT",
        "SETFCAP",
    }
    worker_spec = cluster.manager.api.inspect_service(f"{app.name}_worker")["Spec"]
    assert worker_spec["TaskTemplate"]["Resources"]["Limits"]["Pids"] == 32768
    assert "NET_RAW" in worker_spec["TaskTemplate"]["ContainerSpec"]["CapabilityDrop"]
    assert template["ContainerSpec"]["Healthcheck"]["Test"][:3] == ["CMD", "timeout", "1"]
    assert "COLOR=red" in template["ContainerSpec"]["Env"]
    # No aliases: the router's resolver answers the app's names (with the router's address).
    assert "Aliases" not in template["Networks"][0]
    resolver = scheduler._routes.router.resolver()
    assert template["ContainerSpec"]["DNSConfig"] == {"Nameservers": [resolver]}
    assert service["Labels"]["empire.port"] == "80"
    assert service["Labels"]["empire.app.id"] == app.id

    tasks = scheduler.tasks(app.id)
    webs = [t for t in tasks if t.process == "web"]
    assert sorted(t.name for t in webs) == [f"v1.web.{n}" for n in range(1, 5)]
    assert {t.state for t in tasks} == {"up"}
    assert webs[0].size == SMALL
    nodes = {t.host for t in webs}
    assert nodes == {cluster.host(cluster.manager), cluster.host(cluster.worker)}

    # Internal discovery: an attached one-off on the overlay reaches the app by its aliases.
    probe = make_manifest(
        app,
        1,
        {
            "run": Process(
                "run",
                sh(f"wget -qO- http://{app.name}/; wget -qO- http://web.{app.name}/"),
                1,
                SMALL,
            )
        },
    )
    attachment = scheduler.attach(probe, probe.processes[0], tty=False)
    try:
        assert attachment.name == "v1.run.1"
        output = b"".join(data for stream, data in attachment.output() if stream == STDOUT)
        assert attachment.wait(10) == 0
    finally:
        attachment.kill()
    assert output.decode().split() == ["v1", "v1"]


def test_service_names_of_two_apps_never_collide(cluster, scheduler, new_app, make_manifest):
    # Joined with "-", app "acme" + process "inc-<x>-worker" and app "acme-inc-<x>" + process
    # "worker" were one service; "_" is in no app or process name.
    other = new_app("acme-inc")
    suffix = other.name.removeprefix("acme-")
    acme = dataclasses.replace(new_app(), name="acme")  # new_app's id: removed at teardown
    for app, process in ((acme, f"{suffix}-worker"), (other, "worker")):
        worker = Process(process, sh(f"echo {app.name} up; exec sleep 3600"), 1, SMALL)
        verdict = scheduler.submit(make_manifest(app, 1, {process: worker}))
        assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason

    mine = cluster.manager.api.inspect_service(f"acme_{suffix}-worker")["Spec"]
    theirs = cluster.manager.api.inspect_service(f"{other.name}_worker")["Spec"]
    assert mine["Labels"]["empire.app.id"] == acme.id
    assert theirs["Labels"]["empire.app.id"] == other.id
    assert [t.process for t in scheduler.tasks(acme.id)] == [f"{suffix}-worker"]
    assert [t.process for t in scheduler.tasks(other.id)] == ["worker"]


def test_scale_restart_and_maintenance(cluster, scheduler, new_app, make_manifest):
    app = new_app()
    assert scheduler.submit(make_manifest(app, 1, {"web": web(1)})).outcome is Outcome.SUCCEEDED
    before = {t.id for t in scheduler.tasks(app.id)}
    lines: list[str] = []

    assert scheduler.submit(make_manifest(app, 1, {"web": web(3)}), lines.append).outcome is (
        Outcome.SUCCEEDED
    )
    assert "Status: web: scaling to 3 instances" in lines
    after = scheduler.tasks(app.id)
    assert len(after) == 3 and before <= {t.id for t in after}  # a scale keeps the old task

    lines.clear()
    verdict = scheduler.restart(make_manifest(app, 1, {"web": web(3)}), "web", lines.append)
    assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
    assert not {t.id for t in scheduler.tasks(app.id)} & {t.id for t in after}
    with pytest.raises(Exception, match="no process type"):
        scheduler.restart(make_manifest(app, 1, {"web": web(3)}), "nope")

    maintenance = make_manifest(app, 1, {"web": web(0)})
    assert scheduler.submit(maintenance).outcome is Outcome.SUCCEEDED
    wait_for(lambda: scheduler.tasks(app.id) == [], 20, "no tasks in maintenance")


def test_a_failing_release_is_rolled_back_by_swarm_with_the_reason(
    scheduler, new_app, make_manifest
):
    app = new_app()
    assert scheduler.submit(make_manifest(app, 1, {"web": web(2)})).outcome is Outcome.SUCCEEDED
    broken = web(2, sh("echo starting; exec sleep 3600"))  # never answers its health check
    lines: list[str] = []

    verdict = scheduler.submit(make_manifest(app, 2, {"web": broken}), lines.append)

    assert verdict.outcome is Outcome.ROLLED_BACK
    assert "web: Swarm rolled the update back: web." in verdict.reason
    assert "unhealthy container" in verdict.reason
    assert (
        "its last health check said" in verdict.reason or "inside the container" in verdict.reason
    )
    assert any("swarm update rollback_started" in line for line in lines)
    assert any("rollback_completed" in line for line in lines)
    tasks = scheduler.tasks(app.id)
    assert {t.release for t in tasks} == {1} and len(tasks) == 2


def test_one_failing_process_takes_the_others_back_too(scheduler, new_app, make_manifest):
    app = new_app()
    worker = Process("worker", sh("exec sleep 3600"), 1, SMALL)
    formation = {"web": web(1), "worker": worker}
    assert scheduler.submit(make_manifest(app, 1, formation)).outcome is Outcome.SUCCEEDED
    crashing = Process("worker", sh("sleep 0.5; exit 3"), 1, SMALL)
    lines: list[str] = []

    verdict = scheduler.submit(
        make_manifest(app, 2, {"web": web(1), "worker": crashing}), lines.append
    )

    assert verdict.outcome is Outcome.ROLLED_BACK
    assert "worker: Swarm rolled the update back: worker.1 failed" in verdict.reason
    assert "non-zero exit (3)" in verdict.reason
    assert "Status: web: back to the previous spec (rollback_completed)" in lines
    wait_for(
        lambda: (
            sorted((t.process, t.release) for t in scheduler.tasks(app.id))
            == [("web", 1), ("worker", 1)]
        ),
        30,
        "v1 everywhere",
    )


def test_a_rollout_past_its_deadline_is_taken_back(cluster, router, new_app, make_manifest):
    from empire.scheduler.swarm import SwarmScheduler

    hasty = SwarmScheduler(
        cluster.manager.client,
        router,
        network=router.container.network,
        health_timeout=2.0,
        monitor=1.0,
    )
    app = new_app()
    assert hasty.submit(make_manifest(app, 1, {"web": web(1)})).outcome is Outcome.SUCCEEDED
    # Never healthy, but within its start period: Swarm waits, so the deadline decides.
    slow = web(1, sh("exec sleep 3600"), healthcheck=HealthCheck("http", "/", 1.0, 1.0, 120.0))

    verdict = hasty.submit(make_manifest(app, 2, {"web": slow}))

    assert verdict.outcome is Outcome.ROLLED_BACK
    assert "web: not healthy after" in verdict.reason
    assert "web.1 still starting" in verdict.reason
    wait_for(lambda: [t.release for t in hasty.tasks(app.id)] == [1], 30, "v1 back")


def test_a_node_that_cannot_pull_is_a_clear_error(cluster, scheduler, new_app, make_manifest):
    app = new_app()
    missing = f"{cluster.registry}/empire-swarm-missing:v1"

    with pytest.raises(SchedulerError, match=r"cannot pull the image .*empire-swarm-missing"):
        scheduler.submit(make_manifest(app, 1, {"web": web(1)}, image=missing))
    assert cluster.manager.api.services(filters={"name": f"{app.name}_web"}) == []

    # An update to an image no node can pull: Swarm rolls back, the reason says why.
    assert scheduler.submit(make_manifest(app, 2, {"web": web(1)})).outcome is Outcome.SUCCEEDED
    verdict = scheduler.submit(make_manifest(app, 3, {"web": web(1)}, image=missing))
    assert verdict.outcome is Outcome.ROLLED_BACK
    assert "cannot pull the image" in verdict.reason

    one_off = make_manifest(app, 3, {"run": Process("run", ("true",), 1, SMALL)}, image=missing)
    with pytest.raises(SchedulerError, match="cannot pull the image"):
        scheduler.run(one_off, one_off.processes[0])
    assert [t.release for t in scheduler.tasks(app.id)] == [2]

    local = make_manifest(app, 4, {"web": web(1)}, image="sha256:" + "0" * 64)
    verdict = scheduler.submit(local)
    assert verdict.outcome is Outcome.FAILED and "registry" in verdict.reason


def test_one_off_runs_logs_and_stop(cluster, scheduler, new_app, make_manifest):
    app = new_app()
    ticker = web(1, sh('echo "web says $PORT"; ' + " ".join(WEB[2:])))
    worker = Process("worker", sh("echo worker says hi; exec sleep 3600"), 2, SMALL)
    assert scheduler.submit(make_manifest(app, 1, {"web": ticker, "worker": worker})).outcome is (
        Outcome.SUCCEEDED
    )
    one_off = make_manifest(
        app, 1, {"run": Process("run", sh("echo from the run; exit 3"), 1, SMALL)}
    )

    task = scheduler.run(one_off, one_off.processes[0])

    assert task.name == "v1.run.1"
    done = wait_for(
        lambda: next(
            (t for t in scheduler.tasks(app.id) if t.name == "v1.run.1" and t.exit_code), None
        ),
        30,
        "the run to end",
    )
    assert (done.state, done.exit_code) == ("failed", 3)
    lines = wait_for(
        lambda: (got := list(scheduler.logs(app.id, LogQuery()))) and len(got) >= 4 and got,
        30,
        "four log lines",
    )
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert sorted((m["slot"], m["text"]) for m in parsed if m) == [
        ("run.1", "from the run"),
        ("web.1", "web says 80"),
        ("worker.1", "worker says hi"),
        ("worker.2", "worker says hi"),
    ]
    assert {m["app"] for m in parsed if m} == {app.name}
    only = list(scheduler.logs(app.id, LogQuery(process="worker.2")))
    assert [LINE.match(x)["slot"] for x in only] == ["worker.2"]  # type: ignore[index]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert list(scheduler.logs(app.id, LogQuery(since=future))) == []

    # Following: new lines of a new run arrive in the same stream.
    stream = scheduler.logs(app.id, LogQuery(follow=True, lines=0))
    second = make_manifest(
        app, 1, {"run": Process("run", sh("sleep 1; echo second run"), 1, SMALL)}
    )
    scheduler.run(second, second.processes[0])
    for line in stream:
        if line.endswith("second run"):
            assert f"{app.name}[run.2]: second run" in line
            break
    stream.close()  # type: ignore[attr-defined]

    # Stopping: a task on the manager's node is replaced by Swarm; elsewhere it cannot be.
    workers = [t for t in scheduler.tasks(app.id) if t.process == "worker"]
    here = next((t for t in workers if t.host.endswith(cluster.manager.address)), None)
    there = next((t for t in workers if t.host.endswith(cluster.worker.address)), None)
    if there is not None:
        with pytest.raises(NotSupported, match="another node"):
            scheduler.stop(app.id, there.name)
    if here is not None:
        scheduler.stop(app.id, here.name)
        wait_for(
            lambda: (
                len(
                    [
                        t
                        for t in scheduler.tasks(app.id)
                        if t.process == "worker" and t.state == "up"
                    ]
                )
                == 2
                and here.id not in {t.id for t in scheduler.tasks(app.id)}
            ),
            30,
            "a replacement worker",
        )
    scheduler.stop(app.id, "v1.run.1")
    assert "v1.run.1" not in {t.name for t in scheduler.tasks(app.id)}

    # Finished runs pile up to KEEP_RUNS: the next run removes the older ones.
    quick = make_manifest(app, 1, {"run": Process("run", ("true",), 1, SMALL)})
    for _ in range(KEEP_RUNS + 1):
        scheduler.run(quick, quick.processes[0])
        wait_for(
            lambda: all(
                t.exit_code is not None for t in scheduler.tasks(app.id) if "run" in t.name
            ),
            20,
            "the runs to end",
        )
    runs = [t.name for t in scheduler.tasks(app.id) if ".run." in t.name]
    assert runs == [f"v1.run.{n}" for n in range(6 - KEEP_RUNS, 7)]  # the kept ones, the last one


def test_remove_and_prune(cluster, scheduler, new_app, make_manifest):
    kept, gone = new_app(), new_app()
    for app in (kept, gone):
        assert (
            scheduler.submit(
                make_manifest(app, 1, {"web": web(1)}, domains=(f"{app.name}.test",))
            ).outcome
            is Outcome.SUCCEEDED
        )
    # A brand-new app's route answers once the router resolves its tasks (1 s refresh), as the
    # other routing tests wait for; CI once saw no answer within curl's 3 s right after the
    # verdict.
    for app in (kept, gone):
        wait_for(lambda app=app: get(cluster, f"{app.name}.test") == (200, "v1"), 10, "the route")

    scheduler.prune([kept.id])

    assert scheduler.tasks(gone.id) == []
    assert wait_for(lambda: get(cluster, f"{gone.name}.test")[0] == 404, 10, "the route to go")
    assert get(cluster, f"{kept.name}.test") == (200, "v1")
    scheduler.remove(kept.id)
    assert cluster.manager.api.services(filters={"label": f"empire.app.id={kept.id}"}) == []


def test_an_attached_run_with_a_terminal_takes_input_and_is_listed(
    cluster, scheduler, new_app, make_manifest
):
    app = new_app()
    # An image only the registry has: the manager pulls it first.
    image = web_image_of(cluster, "empire-swarm-attach", " && echo attach > /v")
    api = cluster.manager.api
    api.remove_image(api.inspect_image(image)["Id"], force=True)
    assert not api.images(name=f"{cluster.registry}/empire-swarm-attach")
    one_off = make_manifest(
        app,
        2,
        {"run": Process("run", sh("read line; echo got $line; exit 7"), 1, SMALL)},
        image=image,
    )
    attachment = scheduler.attach(one_off, one_off.processes[0], tty=True, rows=30, cols=100)
    try:
        listed = scheduler.tasks(app.id)
        assert [(t.name, t.host) for t in listed] == [("v2.run.1", cluster.host(cluster.manager))]
        attachment.write(b"hello\n")
        seen = b""
        for _, data in attachment.output():
            seen += data
            if b"got hello" in seen:
                break
        assert attachment.wait(10) == 7
    finally:
        attachment.kill()
    attachment.kill()  # idempotent
    assert scheduler.tasks(app.id) == []
    assert api.images(name=f"{cluster.registry}/empire-swarm-attach")  # pulled


def test_the_router_comes_back_with_its_table(cluster, scheduler, router, new_app, make_manifest):
    app = new_app()
    host = f"{app.name}.test"
    assert scheduler.submit(make_manifest(app, 1, {"web": web(1)}, domains=(host,))).outcome is (
        Outcome.SUCCEEDED
    )
    wait_for(lambda: get(cluster, host) == (200, "v1"), 10, "the route")
    assert router.ensure() is False  # in step: nothing to do

    before = cluster.manager.api.inspect_container(router.container.name)["Id"]
    cluster.manager.api.remove_container(router.container.name, force=True)

    # Its supervision makes it again (twice a second) and gives it its table back.
    wait_for(lambda: get(cluster, host) == (200, "v1"), 20, "the route back")
    assert cluster.manager.api.inspect_container(router.container.name)["Id"] != before
    assert [r.app_id for r in router.routes()].count(app.id) == 1
    assert router.ensure() is False  # in step again


class CountingAPI:
    """The manager's API, counting the calls made through it (by name)."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._api, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return call


def test_a_round_reads_the_swarm_once_and_still_converges_a_change(
    scheduler, new_app, make_manifest, monkeypatch
):
    apps = [new_app() for _ in range(3)]
    manifests = [make_manifest(app, 1, {"web": web(1)}) for app in apps]
    for manifest in manifests:
        assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED
    routes = {app.id: scheduler._routes.router.current(app.id) for app in apps}

    counting = CountingAPI(scheduler._api)
    monkeypatch.setattr(scheduler, "_api", counting)
    with scheduler.sweep():
        for manifest in manifests:
            lines: list[str] = []
            assert scheduler.submit(manifest, lines.append).outcome is Outcome.SUCCEEDED
            assert lines == ["Status: web: 1 instance of v1 running"]
    assert counting.calls == Counter({"services": 1, "tasks": 1})  # for the three apps
    assert {app.id: scheduler._routes.router.current(app.id) for app in apps} == routes

    # A change in a round is made on a fresh read of the app.
    with scheduler.sweep():
        scaled = make_manifest(apps[0], 1, {"web": web(2)})
        assert scheduler.submit(scaled).outcome is Outcome.SUCCEEDED
        assert scheduler.submit(manifests[1]).outcome is Outcome.SUCCEEDED
    assert len(scheduler.tasks(apps[0].id)) == 2
