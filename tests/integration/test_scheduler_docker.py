"""DockerScheduler against the real engine: containers, discovery, rollouts, scale, healing.

Every test has its own network (`docker_network`) and app ids; images are the busybox base of
the session. The web process serves its release (`EMPIRE_RELEASE`) with busybox httpd.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import docker
import pytest

from empire.model import App, HealthCheck, Outcome, Port, Process, Size
from empire.scheduler import LogQuery
from support.waiting import wait_for

MB = 1024 * 1024
SMALL = Size(cpu_shares=128, memory=64 * MB, nproc=64)
WEB = (
    "sh",
    "-c",
    'mkdir -p /www && echo "$EMPIRE_RELEASE" > /www/index.html && exec httpd -f -p "$PORT" -h /www',
)
WORKER = ("sh", "-c", "echo worker up; exec sleep 3600")


def new_app(name: str = "acme-inc", **options: Any) -> App:
    now = datetime.now(UTC)
    return App(id=str(uuid.uuid4()), name=name, created_at=now, updated_at=now, **options)


def web(quantity: int = 1, command: tuple[str, ...] = WEB, **options: Any) -> Process:
    return Process("web", command, quantity, SMALL, ports=(Port(80, 80, "http"),), **options)


def worker(quantity: int = 1, command: tuple[str, ...] = WORKER, size: Size = SMALL) -> Process:
    return Process("worker", command, quantity, size)


def get(upstream: str, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://{upstream}{path}", timeout=2) as response:
        return response.read().decode().strip()


def containers(client: docker.DockerClient, app: App, process: str | None = None) -> list[Any]:
    labels = [f"empire.app.id={app.id}"] + ([f"empire.process={process}"] if process else [])
    return client.containers.list(all=True, filters={"label": labels}, ignore_removed=True)


class Statuses(list[tuple[float, str]]):
    """A status callback that records each line with its time."""

    def __call__(self, line: str) -> None:
        self.append((time.time(), line))

    def at(self, text: str) -> float:
        return next(t for t, line in self if text in line)

    def lines(self) -> list[str]:
        return [line for _, line in self]


def test_containers_carry_labels_env_limits_and_loopback_only_ports(
    docker_client, docker_network, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    manifest = make_manifest(
        app,
        1,
        {"web": web(), "worker": worker(size=Size(cpu_shares=128, memory=64 * MB))},
        domains=("acme.test",),
        config={"A": "1"},
    )

    assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED

    [ct] = containers(docker_client, app, "web")
    attrs = ct.attrs
    labels = attrs["Config"]["Labels"]
    assert labels["empire.app"] == "acme-inc"
    assert labels["empire.app.id"] == app.id
    assert (labels["empire.process"], labels["empire.release"]) == ("web", "v1")
    assert (labels["empire.index"], labels["empire.kind"]) == ("1", "service")
    assert re.fullmatch(r"[0-9a-f]{16}", labels["empire.spec"])
    assert re.fullmatch(r"empire-acme-inc-web-1-v1-[0-9a-f]{4}", ct.name)
    env = dict(e.split("=", 1) for e in attrs["Config"]["Env"])
    assert env["PORT"] == "80" and env["A"] == "1"
    assert (env["EMPIRE_APPNAME"], env["EMPIRE_PROCESS"], env["EMPIRE_RELEASE"]) == (
        "acme-inc",
        "web",
        "v1",
    )
    assert attrs["Config"]["Cmd"] == list(WEB)
    host = attrs["HostConfig"]
    assert (host["CpuShares"], host["Memory"], host["PidsLimit"]) == (128, 64 * MB, 64)
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert set(host["CapDrop"]) == {"NET_RAW", "MKNOD", "AUDIT_WRITE", "SYS_CHROOT", "SETFCAP"}
    assert host["Init"] is True
    assert host["RestartPolicy"]["Name"] == "unless-stopped"  # armed once healthy
    assert host["LogConfig"] == {
        "Type": "json-file",
        "Config": {"max-file": "3", "max-size": "10m"},
    }
    assert host["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    published = attrs["NetworkSettings"]["Ports"]["80/tcp"]
    assert [b["HostIp"] for b in published] == ["127.0.0.1"]
    endpoint = attrs["NetworkSettings"]["Networks"][docker_network]
    assert {"acme-inc", "web.acme-inc"} <= set(endpoint["Aliases"])

    # The router got the loopback port, and the app answers there.
    [route] = recording_router.routes()
    assert route.hostnames == ("acme.test",)
    assert route.endpoints("web")[0].host == ct.name
    assert recording_router.upstreams(app.id) == (f"127.0.0.1:{published[0]['HostPort']}",)
    assert get(recording_router.upstreams(app.id)[0]) == "v1"

    [wk] = containers(docker_client, app, "worker")
    assert wk.attrs["HostConfig"]["PortBindings"] == {}
    # A size without nproc (PX, raw sizes) still gets a pids limit.
    assert wk.attrs["HostConfig"]["PidsLimit"] == 32768
    assert "NET_RAW" in wk.attrs["HostConfig"]["CapDrop"]
    assert not {"acme-inc", "worker.acme-inc"} & set(
        wk.attrs["NetworkSettings"]["Networks"][docker_network]["Aliases"] or []
    )
    network = docker_client.networks.get(docker_network)
    assert network.attrs["Labels"] == {"empire.managed": "true"}

    # Nothing changed: no new container, nothing routed again, and quick.
    before = {c.id for c in containers(docker_client, app)}
    calls = len(recording_router.calls)
    started = time.monotonic()
    assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED
    print(f"idle submit: {(time.monotonic() - started) * 1000:.1f} ms")
    assert {c.id for c in containers(docker_client, app)} == before
    assert len(recording_router.calls) == calls


def test_another_app_reaches_web_by_name_and_private_apps_get_no_route(
    docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler()
    acme = new_app("acme-inc")
    client_app = new_app("client")
    fetch = (
        "sh",
        "-c",
        "timeout 5 wget -qO- http://acme-inc/ && timeout 5 wget -qO- http://web.acme-inc/"
        " && echo fetched; exec sleep 3600",
    )

    assert scheduler.submit(make_manifest(acme, 3, {"web": web()})).outcome is Outcome.SUCCEEDED
    verdict = scheduler.submit(make_manifest(client_app, 1, {"worker": worker(command=fetch)}))

    assert verdict.outcome is Outcome.SUCCEEDED
    lines = []
    for line in scheduler.logs(client_app.id, LogQuery(follow=True)):
        if not line:
            continue  # quiet: the follow says it still runs
        lines.append(line)
        if line.endswith("fetched"):
            break
    assert [line.split(": ", 1)[1] for line in lines] == ["v3", "v3", "fetched"]
    # Both apps are private: acme's route has internal names only; the client has no ports.
    [route] = recording_router.routes()
    assert (route.app_id, route.hostnames) == (acme.id, ())
    assert [name for name, _ in route.processes] == ["web"]


def test_deploy_under_load_is_start_first_and_drops_no_request(
    docker_client, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler(drain=1.0)
    app = new_app()
    domains = ("acme.test",)
    assert scheduler.submit(make_manifest(app, 1, {"web": web(2)}, domains=domains)).outcome is (
        Outcome.SUCCEEDED
    )
    old = {c.id for c in containers(docker_client, app)}
    results: list[tuple[float, str]] = []
    stop = threading.Event()

    def load() -> None:  # about 100 requests/s, each to the router's current upstream
        n = 0
        while not stop.is_set() and n < 3000:
            upstreams = recording_router.upstreams(app.id)
            try:
                results.append((time.time(), get(upstreams[n % len(upstreams)])))
            except Exception as e:  # any failure counts
                results.append((time.time(), f"failed: {e}"))
            n += 1
            time.sleep(0.01)

    statuses = Statuses()
    loader = threading.Thread(target=load)
    loader.start()
    wait_for(lambda: len(results) >= 20, timeout=30, what="the load to be under way")
    started = time.time()
    verdict = scheduler.submit(make_manifest(app, 2, {"web": web(2)}, domains=domains), statuses)
    took = time.time() - started
    after = len(results)
    wait_for(lambda: len(results) >= after + 20, timeout=30, what="requests after the deploy")
    stop.set()
    loader.join()

    assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
    failed = [r for r in results if r[1].startswith("failed")]
    served = [body for _, body in results]
    print(
        f"deploy v1->v2 of 2 web instances: {took:.2f}s, {len(results)} requests, "
        f"{len(failed)} failed"
    )
    assert failed == []
    assert served[0] == "v1" and served[-1] == "v2"
    assert "v1" not in served[served.index("v2") :]  # one switch, no flapping back
    assert statuses.lines() == [
        "Status: web: starting 2 instances of v2",
        "Status: web: 2/2 healthy",
        "Status: web: stopped 2 instances of v1",
    ]
    # Start-first: new healthy, then traffic shifted, then (after the drain) the old ones died.
    switched = next(t for t, verb, r in recording_router.calls if verb == "route" and t > started)
    deaths = [
        e["timeNano"] / 1e9
        for e in docker_client.events(
            since=int(started),
            until=int(time.time()) + 1,
            decode=True,
            filters={"type": "container", "event": "die"},
        )
        if e["id"] in old
    ]
    assert len(deaths) == 2
    assert statuses.at("2/2 healthy") <= switched < min(deaths)
    assert min(deaths) - switched >= 0.9  # the drain
    assert {c.id for c in containers(docker_client, app)}.isdisjoint(old)


def test_a_release_that_exits_is_rolled_back_and_the_old_one_keeps_serving(
    docker_client, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    domains = ("acme.test",)
    scheduler.submit(make_manifest(app, 1, {"web": web(2)}, domains=domains))
    before = recording_router.routes()
    old = {c.id for c in containers(docker_client, app)}
    crash = ("sh", "-c", "echo connecting to the database; echo no DATABASE_URL >&2; exit 3")

    started = time.monotonic()
    verdict = scheduler.submit(make_manifest(app, 2, {"web": web(2, crash)}, domains=domains))
    took = time.monotonic() - started

    print(f"rollback of an exiting release: {took:.2f}s")
    assert verdict.outcome is Outcome.ROLLED_BACK
    assert "exited with code 3" in verdict.reason
    assert '"no DATABASE_URL"' in verdict.reason and verdict.reason.startswith("v2 ")
    assert {c.id for c in containers(docker_client, app)} == old
    assert recording_router.routes() == before
    assert {get(u) for u in recording_router.upstreams(app.id)} == {"v1"}


def test_a_release_that_never_gets_healthy_is_rolled_back_at_the_deadline(
    docker_client, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler(health_timeout=2.0)
    app = new_app()
    scheduler.submit(make_manifest(app, 1, {"web": web()}, domains=("acme.test",)))
    old = {c.id for c in containers(docker_client, app)}
    silent = ("sh", "-c", "echo warming up; exec sleep 3600")  # never listens on $PORT
    check = HealthCheck(type="http", path="/health")

    statuses = Statuses()
    started = time.monotonic()
    verdict = scheduler.submit(
        make_manifest(app, 2, {"web": web(1, silent, healthcheck=check)}, domains=("acme.test",)),
        statuses,
    )
    took = time.monotonic() - started

    print(f"rollback of a release never healthy (2 s deadline): {took:.2f}s")
    assert verdict.outcome is Outcome.ROLLED_BACK
    assert "web.1 was not healthy after 2s (GET /health:" in verdict.reason
    assert '"warming up"' in verdict.reason
    assert {c.id for c in containers(docker_client, app)} == old
    assert get(recording_router.upstreams(app.id)[0]) == "v1"
    assert statuses.lines()[-1] == "Status: removed the new instances of v2; rolled back"


def test_scale_up_and_down_keeps_the_running_instances(
    docker_client, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    domains = ("acme.test",)

    def ids() -> dict[str, str]:
        return {c.labels["empire.index"]: c.id for c in containers(docker_client, app)}

    scheduler.submit(make_manifest(app, 1, {"web": web(1)}, domains=domains))
    first = ids()
    statuses = Statuses()
    started = time.monotonic()
    scheduler.submit(make_manifest(app, 1, {"web": web(3)}, domains=domains), statuses)
    print(f"scale web 1 -> 3: {time.monotonic() - started:.2f}s")
    three = ids()
    assert sorted(three) == ["1", "2", "3"] and three["1"] == first["1"]
    assert len(recording_router.upstreams(app.id)) == 3
    assert statuses.lines() == [
        "Status: web: starting 2 instances of v1",
        "Status: web: 2/2 healthy",
    ]

    statuses.clear()
    scheduler.submit(make_manifest(app, 1, {"web": web(1)}, domains=domains), statuses)
    assert ids() == first
    assert len(recording_router.upstreams(app.id)) == 1
    assert statuses.lines() == ["Status: web: stopped 2 instances of v1"]
    assert scheduler.tasks(app.id)[0].name == "v1.web.1"


def test_restart_replaces_every_instance_and_sticks(docker_client, docker_scheduler, make_manifest):
    scheduler = docker_scheduler()
    app = new_app()
    manifest = make_manifest(app, 1, {"web": web(2), "worker": worker()})
    scheduler.submit(manifest)

    def ids(process: str) -> set[str]:
        return {c.id for c in containers(docker_client, app, process)}

    web_before, worker_before = ids("web"), ids("worker")
    assert scheduler.restart(manifest, "worker").outcome is Outcome.SUCCEEDED
    assert ids("web") == web_before
    assert len(ids("worker")) == 1 and ids("worker") != worker_before

    worker_after = ids("worker")
    assert scheduler.restart(manifest).outcome is Outcome.SUCCEEDED
    assert len(ids("web")) == 2 and ids("web").isdisjoint(web_before)
    assert ids("worker").isdisjoint(worker_after)

    # The restarted containers are the manifest's now: a later submit keeps them.
    settled = ids("web") | ids("worker")
    assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED
    assert ids("web") | ids("worker") == settled

    # A process gone from the manifest is removed; the others are left alone.
    statuses = Statuses()
    web_settled = ids("web")
    without_worker = make_manifest(app, 1, {"web": web(2)})
    assert scheduler.submit(without_worker, statuses).outcome is Outcome.SUCCEEDED
    assert ids("worker") == set() and ids("web") == web_settled
    assert statuses.lines() == ["Status: worker: stopped 1 instance of v1"]


def test_a_stopped_or_killed_task_is_replaced_by_the_next_submit(
    docker_client, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    manifest = make_manifest(app, 1, {"web": web(2)}, domains=("acme.test",))
    scheduler.submit(manifest)
    tasks = {t.name: t for t in scheduler.tasks(app.id)}
    assert set(tasks) == {"v1.web.1", "v1.web.2"}

    scheduler.stop(app.id, "v1.web.2")
    assert [t.name for t in scheduler.tasks(app.id)] == ["v1.web.1"]
    assert len(recording_router.upstreams(app.id)) == 1  # taken out of the route first
    with pytest.raises(Exception, match="no task"):
        scheduler.stop(app.id, "v1.web.9")

    scheduler.submit(manifest)
    assert [t.name for t in scheduler.tasks(app.id)] == ["v1.web.1", "v1.web.2"]

    # A crash the engine does not restart (docker kill) is healed by the next submit too.
    victim = docker_client.containers.get(tasks["v1.web.1"].id)
    victim.kill()
    killed = scheduler.tasks(app.id)[0]
    assert (killed.name, killed.state, killed.exit_code) == ("v1.web.1", "exited", 137)
    statuses = Statuses()
    assert scheduler.submit(manifest, statuses).outcome is Outcome.SUCCEEDED
    assert [(t.name, t.state) for t in scheduler.tasks(app.id)] == [
        ("v1.web.1", "up"),
        ("v1.web.2", "up"),
    ]
    assert victim.id[:12] not in {t.id for t in scheduler.tasks(app.id)}
    assert "Status: web: removed 1 exited instance of v1" in statuses.lines()
    assert len(recording_router.upstreams(app.id)) == 2


def test_maintenance_stops_everything_and_remove_cleans_up(
    docker_client, docker_scheduler, recording_router, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    formation = {"web": web(2), "worker": worker()}
    scheduler.submit(make_manifest(app, 1, formation, domains=("acme.test",)))
    assert len(containers(docker_client, app)) == 3

    maintenance = make_manifest(
        App(app.id, app.name, app.created_at, app.updated_at, maintenance=True),
        1,
        formation,
        domains=("acme.test",),
    )
    assert [p.quantity for p in maintenance.processes] == [0, 0]
    assert scheduler.submit(maintenance).outcome is Outcome.SUCCEEDED
    assert containers(docker_client, app) == []
    # Still routed, to no instance: the router answers 503 while the app is in maintenance.
    [route] = recording_router.routes()
    assert route.hostnames == ("acme.test",) and route.processes == (("web", ()),)

    scheduler.submit(make_manifest(app, 1, formation, domains=("acme.test",)))
    one_off = make_manifest(app, 1, {"run": Process("run", WORKER, 1, SMALL)})
    scheduler.run(one_off, one_off.processes[0])
    assert len(containers(docker_client, app)) == 4
    scheduler.remove(app.id)
    assert containers(docker_client, app) == []
    assert recording_router.routes() == []


def test_reconcile_orphans_removes_apps_empire_no_longer_knows(
    docker_client, docker_scheduler, make_manifest
):
    scheduler = docker_scheduler()
    kept, gone = new_app("kept"), new_app("gone")
    scheduler.submit(make_manifest(kept, 1, {"worker": worker()}))
    scheduler.submit(make_manifest(gone, 1, {"worker": worker()}))

    assert scheduler.reconcile_orphans({kept.id}) == [gone.id]
    assert containers(docker_client, gone) == []
    assert len(containers(docker_client, kept)) == 1
    scheduler.prune(set())  # the contract's verb
    assert containers(docker_client, kept) == []


def test_certificates_in_pem_text_reach_the_router(
    docker_scheduler, recording_router, make_manifest
):
    pem = (
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    )
    scheduler = docker_scheduler()
    app = new_app(certs={"web": pem})
    scheduler.submit(make_manifest(app, 1, {"web": web()}, domains=("acme.test",)))

    [route] = recording_router.routes()
    assert route.certificate is not None
    assert route.certificate.cert_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert route.certificate.key_pem.startswith("-----BEGIN PRIVATE KEY-----")
