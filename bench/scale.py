"""Many apps on one host: what each app costs, and how the reconciler and the router grow.

    .venv/bin/python bench/scale.py real 50 150     # a real server grown to 50, then 150 apps
    .venv/bin/python bench/scale.py synthetic       # reconciler and router to 5,000 apps

Not CI: it takes minutes and holds the engine (run it under /tmp/team/engine.lock where the
engine is shared). It runs on whatever code PYTHONPATH points at, so the same file measures a
commit before a change and after it.

`real`: starts `empire server` (Docker backend, its router container, a network of its own),
builds a busybox httpd image, and grows apps (webx1, one public domain each). At each size:

- deploy → serving: a new app's deploy call until its domain answers 200 through the router;
- config → serving: a config change on one app until its new release answers;
- reconciler round: `Empire.reconcile()` run in this process on the server's database and
  engine (the server's own code, the same apps), timed steady (median of 3 rounds, after one
  that meets every container), with the engine calls it makes counted (by endpoint);
- route change → served: a domain added to one app until it answers;
- idle CPU over 20 s (two reconcile rounds of the server): `empire server`, dockerd,
  containerd, and the containerd shims and docker-proxy processes of the apps (% of one CPU);
- the server's RSS, and host memory per app: the PSS of the app's shim and docker-proxy
  processes plus what its container's cgroup charges.

`synthetic`: the same code without real containers:
- reconciler: the Docker backend's submit of N steady apps on an engine in memory
  (`tests/support/fake_engine.py`; its list filters every container, as dockerd does), one
  round with `Scheduler.sweep` when the code has it, and engine list calls per round;
- router: a real router container given a table of N synthetic routes, then one route change
  timed until the resolver serves it (`EngineRouter.route`, as a deploy calls it), and the
  part of it spent encoding the table in Empire.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.server import EmpireServer  # noqa: E402
from support.services import free_port  # noqa: E402

PROCFILE = 'web: sh -c "echo $EMPIRE_RELEASE > /www/index.html; exec httpd -f -p $PORT -h /www"\n'
IDLE_SECONDS = 20.0
HZ = 100  # clock ticks per second of /proc/<pid>/stat


# -- the host's processes ---------------------------------------------------------------------


def _pids(match: Callable[[str, str], bool]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match(comm, args):
            found.append(int(entry.name))
    return found


def _ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _cgroup_memory(container_id: str) -> int:
    for path in (
        f"/sys/fs/cgroup/memory/docker/{container_id}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.current",
    ):
        with contextlib.suppress(OSError, ValueError):
            return int(Path(path).read_text())
    return 0


def idle_cpu(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """% of one CPU each group of processes used over `seconds`."""
    before = {name: sum(_ticks(p) for p in pids) for name, pids in groups.items()}
    time.sleep(seconds)
    after = {name: sum(_ticks(p) for p in pids) for name, pids in groups.items()}
    return {name: 100.0 * (after[name] - before[name]) / HZ / seconds for name in groups}


# -- counting engine calls --------------------------------------------------------------------


class CountingAPI:
    """docker-py's APIClient, counting the calls the scheduler makes (by method)."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._api, name)
        if not callable(found) or name.startswith("_"):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return call


class CountingClient:
    def __init__(self, client: docker.DockerClient) -> None:
        self.api = CountingAPI(client.api)


def swept(scheduler: Any) -> contextlib.AbstractContextManager[None]:
    """The scheduler's round, where the code has one (`Scheduler.sweep`)."""
    sweep = getattr(scheduler, "sweep", None)
    return sweep() if sweep is not None else contextlib.nullcontext()


# -- the real server --------------------------------------------------------------------------


def wait_serving(router: str, host: str, text: str, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                r = client.get(f"http://{router}/", headers={"Host": host})
                if r.status_code == 200 and r.text.strip() == text:
                    return time.monotonic()
            time.sleep(0.005)
    raise SystemExit(f"{host} never served {text!r}")


def until_serving(call: Callable[[], object], router: str, host: str, text: str) -> float:
    start = time.monotonic()
    worker = threading.Thread(target=call)
    worker.start()
    served = wait_serving(router, host, text)
    worker.join()
    return served - start


def build_image(client: docker.DockerClient, repo: str, workdir: Path) -> str:
    (workdir / "busybox").write_bytes(Path("/usr/bin/busybox").read_bytes())
    (workdir / "busybox").chmod(0o755)
    (workdir / "Procfile").write_text(PROCFILE)
    (workdir / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "WORKDIR /app\nCOPY Procfile Procfile\nRUN mkdir -p /www /tmp\n"
    )
    client.images.build(path=str(workdir), tag=f"{repo}:v1", rm=True)
    return f"{repo}:v1"


class Real:
    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.client = docker.from_env()
        self.tag = uuid.uuid4().hex[:6]
        self.network = f"empire-scale-{self.tag}"
        self.router = f"127.0.0.1:{free_port()}"
        self.apps: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def run(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            image = build_image(self.client, f"scale-{self.tag}", Path(tmp))
            env = {
                "EMPIRE_SCHEDULER": "docker",
                "EMPIRE_ROUTER_CONTAINER": f"{self.network}-router",
                "EMPIRE_ROUTER_LISTEN": self.router,
                "EMPIRE_ROUTER_TLS_LISTEN": f"127.0.0.1:{free_port()}",
                "EMPIRE_DOCKER_NETWORK": self.network,
                "EMPIRE_RATE_LIMIT_PER_HOUR": "0",
                "EMPIRE_EVENTS_STDOUT": "false",
            }
            server = EmpireServer(Path(tmp) / "empire", env=env)
            server.data_dir.mkdir(parents=True)
            token = server.create_user("bench")
            server.start()
            self.api = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=300
            )
            try:
                for size in self.sizes:
                    while len(self.apps) < size - 1:
                        self.grow(image)
                    self.rows.append(self.measure(server, image, size))
                    self.show()
            finally:
                self.api.close()
                server.stop()
                self.cleanup(image)

    def deploy(self, app: str, image: str) -> None:
        with self.api.stream("POST", f"/apps/{app}/deploys", json={"image": image}) as r:
            for _ in r.iter_lines():
                pass

    def grow(self, image: str) -> float:
        app = f"s{len(self.apps):04d}"
        self.api.post("/apps", json={"name": app}).raise_for_status()
        self.api.post(f"/apps/{app}/domains", json={"hostname": f"{app}.scale.test"})
        took = until_serving(
            lambda: self.deploy(app, image), self.router, f"{app}.scale.test", "v1"
        )
        self.apps.append(app)
        return took

    def measure(self, server: EmpireServer, image: str, size: int) -> dict[str, Any]:
        row: dict[str, Any] = {"apps": size, "deploy": self.grow(image)}
        first = self.apps[0]
        version = len(self.api.get(f"/apps/{first}/releases").json()) + 1
        row["config"] = until_serving(
            lambda: self.api.patch(f"/apps/{first}/config-vars", json={"N": str(version)}),
            self.router,
            f"{first}.scale.test",
            f"v{version}",
        )
        row.update(self.round(server))
        other = self.apps[1 % len(self.apps)]
        extra = f"x{uuid.uuid4().hex[:6]}.{other}.scale.test"
        row["route"] = until_serving(
            lambda: self.api.post(f"/apps/{other}/domains", json={"hostname": extra}),
            self.router,
            extra,
            "v1",
        )
        time.sleep(2)  # the last deploy's drain and the router settle
        containers = self.client.api.containers(filters={"label": f"empire.network={self.network}"})
        ids = [c["Id"] for c in containers]
        shims = _pids(lambda c, a: c.startswith("containerd-shim") and any(i in a for i in ids))
        addresses = [
            n["IPAddress"]
            for c in containers
            for n in (c.get("NetworkSettings") or {}).get("Networks", {}).values()
        ]
        proxies = _pids(
            lambda c, a: (
                c == "docker-proxy" and any(f"-container-ip {ip} " in a for ip in addresses)
            )
        )
        assert server.process is not None
        groups = {
            "empire": [server.process.pid],
            "dockerd": _pids(lambda c, a: c == "dockerd"),
            "containerd": _pids(lambda c, a: c == "containerd"),
            "shims+proxies": shims + proxies,
        }
        row["cpu"] = idle_cpu(groups, IDLE_SECONDS)
        row["rss"] = _rss(server.process.pid)
        per_app = sum(_pss(p) for p in shims + proxies) + sum(_cgroup_memory(i) for i in ids)
        row["memory"] = per_app / max(len(ids), 1)
        row["container"] = sum(_cgroup_memory(i) for i in ids) / max(len(ids), 1)
        row["proxies"] = len(proxies)
        return row

    def round(self, server: EmpireServer) -> dict[str, Any]:
        """Reconcile rounds in this process, on the server's store and engine."""
        from empire.scheduler.docker import DockerScheduler
        from empire.settings import Settings
        from empire.wiring import build_empire, build_router

        settings = Settings.from_env(
            {k: v for k, v in server.env.items() if k.startswith("EMPIRE_")}
        )
        counting = CountingClient(self.client)
        router = build_router(settings)
        scheduler = DockerScheduler(
            counting,  # type: ignore[arg-type]
            router,
            network=settings.docker_network,
            drain=settings.drain_seconds,
        )
        empire = build_empire(settings, scheduler=scheduler, router=router)
        empire.reconcile()  # meets every container once (what this process never saw)
        times, calls = [], Counter[str]()
        for _ in range(3):
            counting.api.calls.clear()
            started = time.perf_counter()
            empire.reconcile()
            times.append(time.perf_counter() - started)
            calls = Counter(counting.api.calls)
        router.close()
        return {"round": statistics.median(times), "calls": calls}

    def cleanup(self, image: str) -> None:
        for c in self.client.containers.list(
            all=True, filters={"label": f"empire.network={self.network}"}
        ):
            c.remove(force=True)
        with contextlib.suppress(docker.errors.APIError):
            self.client.containers.get(f"{self.network}-router").remove(force=True)
        for net in self.client.networks.list(names=[self.network]):
            with contextlib.suppress(docker.errors.APIError):
                net.remove()
        with contextlib.suppress(docker.errors.APIError):
            self.client.images.remove(image, force=True)

    def show(self) -> None:
        print("\nReal server, Docker backend (webx1 and one public domain per app)")
        cpu_title = "idle CPU empire/dockerd/containerd/shims+proxies"
        header = (
            f"{'apps':>5} {'deploy→serving':>14} {'config→serving':>14} {'round':>8} "
            f"{'engine calls/round':>18} {'route change':>12} {cpu_title:>42} {'RSS':>8} "
            f"{'host MiB/app':>12} {'proxies':>7}"
        )
        print(header)
        for r in self.rows:
            cpu = r["cpu"]
            shown = (
                f"{cpu['empire']:.1f} / {cpu['dockerd']:.1f} / {cpu['containerd']:.1f} / "
                f"{cpu['shims+proxies']:.1f} %"
            )
            calls = sum(r["calls"].values())
            print(
                f"{r['apps']:>5} {r['deploy']:>12.2f} s {r['config']:>12.2f} s "
                f"{r['round'] * 1000:>5.0f} ms {calls:>18} {r['route'] * 1000:>9.0f} ms "
                f"{shown:>42} {r['rss'] / 2**20:>4.0f} MiB {r['memory'] / 2**20:>8.2f} MiB "
                f"{r['proxies']:>7}"
            )
        last = self.rows[-1]
        print(
            f"  engine calls of a round at {last['apps']} apps: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(last["calls"].items()))
        )
        print(
            f"  of the host memory per app, in the container: {last['container'] / 2**20:.2f} MiB"
        )
        sys.stdout.flush()


# -- synthetic tables -------------------------------------------------------------------------


def synthetic_reconciler(sizes: list[int]) -> None:
    from datetime import UTC, datetime

    from empire import manifest as manifests
    from empire.model import App, Config, Process, Release, Size, Slug
    from empire.router import NoRouter
    from empire.scheduler.docker import DockerScheduler
    from support.fake_engine import FakeEngine

    print("\nReconciler, Docker backend on an engine in memory (steady apps, workerx1 each)")
    print(f"{'apps':>6} {'round':>10} {'engine list calls':>18} {'per app':>8}")
    at = datetime.now(UTC)
    worker = Process("worker", ("./worker",), 1, Size(128, 64 << 20, 64))
    for size in sizes:
        engine = FakeEngine()
        scheduler = DockerScheduler(
            engine,  # type: ignore[arg-type]
            NoRouter(),
            network="scale",
            min_running=0.0,
            poll_interval=0.001,
            drain=0.0,
        )
        states = []
        for n in range(size):
            app = App(id=f"id-{n:05d}", name=f"a{n:05d}", created_at=at, updated_at=at)
            release = Release(
                id=f"r-{n}",
                app_id=app.id,
                app_name=app.name,
                version=1,
                slug=Slug(id=f"s-{n}", image="scale:v1", procfile=b""),
                config=Config(id=f"c-{n}", app_id=app.id, vars={}, created_at=at),
                formation={"worker": worker},
                description="",
                created_at=at,
                updated_at=at,
            )
            states.append(manifests.build(app, release, ()))
        with swept(scheduler):  # the apps are made
            for manifest in states:
                scheduler.submit(manifest)
        with swept(scheduler):  # a first round meets every container
            for manifest in states:
                scheduler.submit(manifest)
        engine.reset()
        started = time.perf_counter()
        with swept(scheduler):
            for manifest in states:
                scheduler.submit(manifest)
        took = time.perf_counter() - started
        lists = engine.calls["containers"] + engine.calls["networks"]
        print(f"{size:>6} {took * 1000:>7.0f} ms {lists:>18} {took / size * 1e6:>5.0f} µs")
        sys.stdout.flush()


def synthetic_router(sizes: list[int]) -> None:
    from empire.router import Endpoint, Route, table
    from empire.router.router import EngineRouter
    from empire.scheduler.kit.api import engine_api

    def route(n: int, version: int = 1) -> Route:
        return Route(
            app_id=f"id-{n:05d}",
            app_name=f"a{n:05d}",
            hostnames=(f"a{n:05d}.scale.test",),
            processes=(("web", (Endpoint(f"empire-a{n:05d}-web-1-v{version}-abcd", 80),)),),
        )

    from empire import certs
    from empire.router import Certificate
    from support import pki

    pair = certs.split(pki.bundle("*.scale.test"))
    assert pair is not None
    certificate = Certificate(*pair)

    def tls(n: int, version: int = 1) -> Route:
        plain = route(n, version)
        return Route(plain.app_id, plain.app_name, plain.hostnames, plain.processes, certificate)

    print("\nRouter: a route change at N routes (real router container; synthetic table)")
    print(
        f"{'routes':>6} {'change → served':>16} {'of it: encode':>14} {'records.json':>13}"
        f"   {'every app with a certificate: instance change':>46}  {'certificate change':>18}"
    )
    client = docker.from_env()
    tag = uuid.uuid4().hex[:6]
    network = f"empire-scale-{tag}"
    with tempfile.TemporaryDirectory() as tmp:
        router = EngineRouter(
            engine_api(client),
            network=network,
            state=Path(tmp) / "router",
            listen=f"127.0.0.1:{free_port()}",
            tls_listen=f"127.0.0.1:{free_port()}",
            name=f"{network}-router",
            drain=0.0,
        )
        try:
            router.route(route(0))
            for size in sizes:
                with router._lock:
                    for n in range(size):
                        router._table.setdefault(f"id-{n:05d}", route(n))
                router.route(route(0, 2))  # the whole table once
                times = []
                for version in range(3, 13):
                    started = time.perf_counter()
                    router.route(route(version % size, version))
                    times.append(time.perf_counter() - started)
                document = getattr(table, "Document", None)
                encode_started = time.perf_counter()
                for _ in range(10):
                    if document is not None:
                        router._document.render(router._table, generation=1, address="a", name="n")
                    else:
                        import json

                        json.dumps(
                            table.records(
                                router._table.values(), generation=1, address="a", name="n"
                            ),
                            separators=(",", ":"),
                        )
                encode = (time.perf_counter() - encode_started) / 10
                size_bytes = router.container.records_file.stat().st_size
                # The same table, every app with a certificate (Caddy's config holds them).
                with router._lock:
                    for n in range(size):
                        router._table[f"id-{n:05d}"] = tls(n)
                router.route(tls(0, 2))  # Caddy loads every certificate once
                moved = []
                for version in range(3, 6):
                    started = time.perf_counter()
                    router.route(tls(version % size, version))
                    moved.append(time.perf_counter() - started)
                fresh = Certificate(*pair)  # the same pair, another app's: a new TLS policy
                started = time.perf_counter()
                router.route(
                    Route("id-new", "anew", ("anew.scale.test",), route(0).processes, fresh)
                )
                changed = time.perf_counter() - started
                router.remove("id-new")
                with router._lock:
                    for n in range(size):
                        router._table[f"id-{n:05d}"] = route(n)
                router.route(route(0, 2))
                print(
                    f"{size:>6} {statistics.median(times) * 1000:>13.1f} ms "
                    f"{encode * 1000:>11.1f} ms {size_bytes / 1024:>9.0f} KiB"
                    f"   {statistics.median(moved) * 1000:>43.1f} ms"
                    f"  {changed * 1000:>15.0f} ms"
                )
                sys.stdout.flush()
        finally:
            router.close()
            with contextlib.suppress(docker.errors.APIError):
                client.containers.get(f"{network}-router").remove(force=True)
            for net in client.networks.list(names=[network]):
                with contextlib.suppress(docker.errors.APIError):
                    net.remove()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import logging

    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("real", "synthetic", "reconciler", "router"):
        raise SystemExit(__doc__)
    sizes = [int(a) for a in sys.argv[2:]]
    with _quiet():
        if sys.argv[1] == "real":
            Real(sizes or [50, 150]).run()
        if sys.argv[1] in ("synthetic", "reconciler"):
            synthetic_reconciler(sizes or [100, 1000, 5000])
        if sys.argv[1] in ("synthetic", "router"):
            synthetic_router(sizes or [150, 1000, 5000])


if __name__ == "__main__":
    main()
