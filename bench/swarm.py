"""Swarm backend figures beside the Docker backend's, measured the same way in one run.

    .venv/bin/python bench/swarm.py [ROUNDS] [--drain SECONDS]

Both backends get the same app (one web process, busybox httpd serving `$EMPIRE_RELEASE`, no
Procfile check: the default TCP check of the web port), the same Caddy in front and the same
scheduler calls (`submit` of manifests built by `empire.manifest.build`, no HTTP API), and:

- deploy → serving: `submit` of a release with a new image, until the first 200 through the
  router that carries the new release (median of ROUNDS, default 5);
- deploy → serving with a release phase (`release: true`): `release_phase`, then `submit` (as
  the core runs them, usecases/base.py), until the first 200 of the new release; beside the
  deploys without one, that is what a release phase adds (and the phase call on its own);
- rollback → serving: `submit` of a new release with an older image (the one of two releases
  back, as `emp rollback` makes it), likewise;
- failed requests during all rounds: on Swarm, probes inside the overlay (`http://<app>/`,
  a new connection per request and one kept alive) and through the router (both ways); on
  Docker, a load loop of about 100 requests/s through the router;
- the drain's cost, after the rounds above: ROUNDS deploys with EMPIRE_DRAIN_SECONDS at
  --drain (2 s, the default) and ROUNDS with it at the router's floor (0.5 s: twice Caddy's
  lookup refresh), alternating, each `submit` → verdict timed: how long a deploy call takes,
  and how much of it the drain is (the difference). On Docker the call waits out the drain of
  the old instances; on Swarm, which stops replaced tasks itself, only removed services and
  `stop` wait for it, so the difference there should be about nothing.

Swarm: a real two-node swarm built for the run (tests/swarm/cluster.py: two engines in network
namespaces, a registry), images pushed to the registry (a deploy pulls on the node the task
lands on), the router container on the overlay; the probes run inside the manager's
namespace and in a client container. Docker: the machine's main engine, a DockerScheduler and
its router container on a bridge of its own, images built locally.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from empire import manifest as manifests  # noqa: E402
from empire.model import (  # noqa: E402
    App,
    Config,
    Exposure,
    Outcome,
    Port,
    Process,
    Release,
    Size,
    Slug,
)
from empire.router import caddy  # noqa: E402
from empire.router.router import EngineRouter  # noqa: E402
from empire.scheduler import Manifest, Scheduler  # noqa: E402
from empire.scheduler.docker import DockerScheduler  # noqa: E402
from empire.scheduler.kit.api import engine_api  # noqa: E402
from empire.scheduler.swarm import SwarmScheduler  # noqa: E402
from support.probes import Probes, netns_of  # noqa: E402
from support.services import free_port  # noqa: E402
from swarm.cluster import NETNS_DIR, Cluster, build, busybox_context, push  # noqa: E402

WEB = ("sh", "-c", 'echo "$EMPIRE_RELEASE" > /www/index.html; exec httpd -f -p "$PORT" -h /www')
SIZE = Size(256, 64 * 1024 * 1024, 128)
HOST = "bench.example.test"
DRAIN = 2.0  # EMPIRE_DRAIN_SECONDS, as by default
FLOOR = 0.0  # the lowest drain asked for: the router keeps its own floor (DrainRouter)
# `release: true`, as the Procfile reader makes a release phase (procfile._release_phase).
PHASE = Process("release", ("true",), 0, SIZE, noservice=True)
PHASE_TIMEOUT = 120.0  # seconds (EMPIRE_RELEASE_TIMEOUT)
# Polls until the body is the expected text; prints the wall-clock time it was first seen.
PROBE = """
import http.client, sys, time
port, host, text, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], time.time() + 120
print("ready", flush=True)
while time.time() < limit:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        if r.status == 200 and r.read().decode().strip() == text:
            print(time.time(), flush=True)
            sys.exit(0)
        c.close()
    except OSError:
        pass
    time.sleep(0.005)
sys.exit(1)
"""


class DrainRouter(EngineRouter):
    """The router, with the drain (EMPIRE_DRAIN_SECONDS) set by the bench between deploys
    rather than once at the start; at least twice Caddy's lookup refresh, as EngineRouter
    keeps it. The Swarm scheduler reads it at each submit; the Docker one when it is made."""

    seconds = DRAIN

    @property
    def drain(self) -> float:
        return max(self.seconds, caddy.REFRESH_SECONDS * 2)


class Releases:
    """One app's releases: each round submits a manifest of a new version."""

    def __init__(self, images: list[str]) -> None:
        now = datetime.now(UTC)
        self.app = App(
            id=str(uuid.uuid4()),
            name=f"bench-{uuid.uuid4().hex[:6]}",
            created_at=now,
            updated_at=now,
            exposure=Exposure.PUBLIC,  # it has a domain, as adding one makes it
        )
        self.images = images
        self.version = 0

    def release(self, image: str) -> Manifest:
        return self.new(image)[0]

    def new(self, image: str, *, phase: bool = False) -> tuple[Manifest, Manifest | None]:
        """The next release's manifest, and that of its release phase (`release: true`) when
        `phase`, built as the core builds them."""
        self.version += 1
        now = datetime.now(UTC)
        release = Release(
            id=str(uuid.uuid4()),
            app_id=self.app.id,
            app_name=self.app.name,
            version=self.version,
            slug=Slug("s", image, b""),
            config=Config("c", self.app.id, {}, now),
            formation={
                "web": Process("web", WEB, 1, SIZE, ports=(Port(80, 80),)),
                **({"release": PHASE} if phase else {}),
            },
            description="",
            created_at=now,
            updated_at=now,
        )
        return manifests.build(self.app, release, (HOST,)), manifests.phase(self.app, release)


def deploy(scheduler: Scheduler, manifest: Manifest, phase: Manifest | None) -> tuple[float, float]:
    """As the core deploys: the release phase first, when there is one, and no process of
    the release starts unless it exited 0; then `submit`, which must succeed. Seconds the
    phase took (0 without one), and `submit` until its verdict."""
    began = time.time()
    if phase is not None:
        lines: list[str] = []
        result = scheduler.release_phase(
            phase, phase.processes[0], timeout=PHASE_TIMEOUT, output=lines.append
        )
        if result.exit_code != 0:
            raise SystemExit(f"v{manifest.release}'s release phase: {result}")
    phased = time.time() - began
    began = time.time()
    verdict = scheduler.submit(manifest)
    if verdict.outcome is not Outcome.SUCCEEDED:
        raise SystemExit(f"v{manifest.release}: {verdict.outcome}: {verdict.reason}")
    return phased, time.time() - began


def rounds(
    scheduler: Scheduler, app: Releases, count: int, probe: Callable[[str], Callable[[], float]]
) -> dict[str, list[float]]:
    """Deploy new images, then as many with a release phase, then roll back to older ones:
    seconds until each release served, until `submit` gave its verdict, and (with a phase)
    how long the phase took. Uses images 0 .. 2 * count."""
    found: dict[str, list[float]] = {
        "deploys": [],
        "phased": [],
        "phases": [],
        "rollbacks": [],
        "verdicts": [],
    }

    def timed(image: str, kind: str, phase: bool = False) -> None:
        manifest, phased = app.new(image, phase=phase)
        seen = probe(f"v{manifest.release}")
        started = time.time()
        took, verdict = deploy(scheduler, manifest, phased)
        found["verdicts"].append(verdict)
        if phased is not None:
            found["phases"].append(took)
        found[kind].append(seen() - started)

    for image in app.images[1 : count + 1]:
        timed(image, "deploys")
    for image in app.images[count + 1 : 2 * count + 1]:
        timed(image, "phased", phase=True)
    for n in range(count):
        timed(app.images[count - 1 - n], "rollbacks")
    return found


def drain_rounds(
    app: Releases,
    images: list[str],
    at: Callable[[float], Scheduler],
    drain: float,
    probe: Callable[[str], Callable[[], float]],
) -> dict[str, list[float]]:
    """Deploys of `images` (new ones), alternately with the drain at `drain` and at the floor
    (`at(seconds)` gives the scheduler that drains so long): seconds of each `submit` until
    its verdict, by drain. Each deploy waits until its release serves, so none overlaps the
    next."""
    found: dict[str, list[float]] = {"drained": [], "floor": []}
    for n, image in enumerate(images):
        kind, seconds = ("drained", drain) if n % 2 == 0 else ("floor", FLOOR)
        manifest = app.release(image)
        seen = probe(f"v{manifest.release}")
        _, verdict = deploy(at(seconds), manifest, None)
        found[kind].append(verdict)
        seen()
    return found


def context(workdir: Path, n: int) -> Path:
    """A busybox image that differs from the others (its /v holds n)."""
    return busybox_context(workdir / f"image-{n}", f" && echo {n} > /v")


def images_needed(count: int) -> int:
    """The first release's, `count` deploys, `count` with a phase, 2 * `count` for the drain."""
    return 4 * count + 1


def swarm_figures(count: int, workdir: Path, drain: float) -> dict[str, Any]:
    with Cluster() as cluster:
        images = []
        for n in range(images_needed(count)):
            tag = build(cluster, context(workdir / "swarm", n), f"bench:v{n}")
            images.append(push(cluster, tag, "bench", f"v{n}"))
        router = DrainRouter(
            engine_api(cluster.manager.client),
            network=f"emp-sw-{cluster.id}",
            driver="overlay",
            state=cluster.dir / "router",
            listen="127.0.0.1:8080",
            tls_listen=None,
            name=f"emp-sw-{cluster.id}-router",
            drain=drain,
        )
        router.seconds = drain
        router.start()
        scheduler = SwarmScheduler(cluster.manager.client, router, network=router.container.network)
        scheduler.start()
        netns = str(NETNS_DIR / cluster.manager.netns)

        def probe(text: str) -> Callable[[], float]:
            argv = [
                "nsenter",
                f"--net={netns}",
                "--",
                sys.executable,
                "-c",
                PROBE,
                "8080",
                HOST,
                text,
            ]
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
            return lambda: float(process.communicate(timeout=150)[0].strip())

        app = Releases(images)
        first = app.release(images[0])
        wait = probe("v1")
        scheduler.submit(first)
        wait()
        client = cluster.manager.client.containers.run(
            images[0],
            ["sleep", "3600"],
            network=router.container.network,
            dns=[router.resolver()],
            detach=True,
        )
        inside = {"netns": netns_of(cluster.manager.api, client.id), "dns": "127.0.0.11"}
        name = app.app.name
        probes = Probes()
        probes.start("internal fresh", f"http://{name}/", name, "fresh", **inside)
        probes.start("internal keep-alive", f"http://{name}/", name, "keepalive", **inside)
        probes.start("public fresh", "http://127.0.0.1:8080/", HOST, "fresh", netns=netns)
        probes.start("public keep-alive", "http://127.0.0.1:8080/", HOST, "keepalive", netns=netns)
        figures: dict[str, Any] = rounds(scheduler, app, count, probe)
        columns = probes.finish()
        client.remove(force=True)

        def at(seconds: float) -> Scheduler:
            router.seconds = seconds  # read by the next submit
            return scheduler

        figures.update(drain_rounds(app, images[2 * count + 1 :], at, drain, probe))
        router.seconds = drain
        scheduler.remove(app.app.id)
        scheduler.close()
        router.close()
    return {**figures, "columns": columns}


def docker_figures(count: int, workdir: Path, drain: float) -> dict[str, Any]:
    client = docker.from_env()
    tags = []
    for n in range(images_needed(count)):
        tag = f"bench-swarm-docker-{uuid.uuid4().hex[:6]}:v{n}"
        client.images.build(path=str(context(workdir / "docker", n)), tag=tag, rm=True)
        tags.append(tag)
    network = f"empire-bench-{uuid.uuid4().hex[:6]}"
    listen = f"127.0.0.1:{free_port()}"
    router = DrainRouter(
        engine_api(client),
        network=network,
        state=workdir / "docker-router",
        listen=listen,
        tls_listen=None,
        name=f"{network}-router",
        drain=drain,
    )
    # The Docker scheduler takes its drain when it is made: one per drain, on the same router.
    schedulers: dict[float, DockerScheduler] = {}
    for seconds in (FLOOR, drain):
        router.seconds = seconds
        schedulers[seconds] = DockerScheduler(client, router, network=network, drain=seconds)
    scheduler = schedulers[drain]
    app = Releases(tags)
    try:

        def probe(text: str) -> Callable[[], float]:
            return lambda: wait_http(listen, text)

        scheduler.submit(app.release(tags[0]))
        wait_http(listen, "v1")
        results: list[int] = []
        stop = threading.Event()
        loader = threading.Thread(target=load_loop, args=(listen, results, stop))
        loader.start()
        figures: dict[str, Any] = rounds(scheduler, app, count, probe)
        stop.set()
        loader.join()
        failed = sum(1 for code in results if code != 200)
        figures["load"] = {"total": len(results), "failed": failed}
        figures.update(
            drain_rounds(app, tags[2 * count + 1 :], schedulers.__getitem__, drain, probe)
        )
    finally:
        scheduler.remove(app.app.id)
        router.close()
        client.containers.get(f"{network}-router").remove(force=True)
        for net in client.networks.list(names=[network]):
            net.remove()
        for tag in tags:
            client.images.remove(tag, force=True)
    return figures


def wait_http(listen: str, text: str, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        while time.monotonic() < deadline:
            try:
                r = http.get(f"http://{listen}/", headers={"Host": HOST})
                if r.status_code == 200 and r.text.strip() == text:
                    return time.time()
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise SystemExit(f"{text} never served on {listen}")


def load_loop(listen: str, results: list[int], stop: threading.Event) -> None:
    with httpx.Client(timeout=2, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        for _ in range(100_000):  # bounded: stops by itself
            if stop.is_set():
                return
            began = time.monotonic()
            try:
                results.append(http.get(f"http://{listen}/", headers={"Host": HOST}).status_code)
            except httpx.HTTPError:
                results.append(0)
            time.sleep(max(0.0, 0.01 - (time.monotonic() - began)))


def line(name: str, figures: dict[str, Any], drain: float) -> str:
    d, r = statistics.median(figures["deploys"]), statistics.median(figures["rollbacks"])
    v = statistics.median(figures["verdicts"])
    p, ph = statistics.median(figures["phased"]), statistics.median(figures["phases"])
    a, b = statistics.median(figures["drained"]), statistics.median(figures["floor"])
    floor = max(FLOOR, caddy.REFRESH_SECONDS * 2)
    columns = figures.get("columns") or {"public fresh": figures["load"]}
    failed = "; ".join(
        f"{column}: {c['failed']} failed of {c['total']}" for column, c in columns.items()
    )
    return (
        f"{name:<7} deploy -> serving median {d:5.2f} s {_samples(figures['deploys'])}\n"
        f"{'':<7} deploy -> serving with a release phase (`true`) median {p:5.2f} s, "
        f"{p - d:+.2f} s over none {_samples(figures['phased'])}; the phase call itself "
        f"median {ph:.2f} s {_samples(figures['phases'])}\n"
        f"{'':<7} rollback -> serving median {r:5.2f} s {_samples(figures['rollbacks'])}\n"
        f"{'':<7} submit -> verdict median {v:5.2f} s {_samples(figures['verdicts'])}\n"
        f"{'':<7} requests during the rounds: {failed}\n"
        f"{'':<7} a deploy call (submit -> verdict), no probes: median {a:5.2f} s with "
        f"EMPIRE_DRAIN_SECONDS={drain:g} {_samples(figures['drained'])}, {b:.2f} s at the "
        f"router's floor ({floor:g} s) {_samples(figures['floor'])}: the drain is "
        f"{a - b:+.2f} s of it"
    )


def _samples(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in values) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "rounds",
        nargs="?",
        type=int,
        default=5,
        metavar="ROUNDS",
        help="deploys of each kind (default 5)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=DRAIN,
        metavar="SECONDS",
        help=f"EMPIRE_DRAIN_SECONDS of the rounds (default {DRAIN:g}, as by default)",
    )
    args = parser.parse_args()
    count, drain = args.rounds, args.drain
    if count < 1:
        parser.error("ROUNDS must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-swarm-") as tmp:
        swarm = swarm_figures(count, Path(tmp), drain)
        local = docker_figures(count, Path(tmp), drain)
    print(
        f"{count} deploys (new image), {count} with a release phase, then {count} rollbacks "
        f"(older image), then {count} + {count} deploys to time the drain; web x1, same host:"
    )
    print(line("swarm", swarm, drain))
    print(line("docker", local, drain))
    ratio = statistics.median(swarm["deploys"]) / statistics.median(local["deploys"])
    print(f"swarm / docker, deploy: {ratio:.1f}x")


if __name__ == "__main__":
    main()
