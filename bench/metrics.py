"""What metrics cost: API throughput and idle RSS with 100 apps, with and without metrics.

    .venv/bin/python bench/metrics.py              # SQLite, 3 rounds each way
    .venv/bin/python bench/metrics.py --rounds 1

Seeds 100 apps (web and worker, each deployed once; one with 20 releases) through the facade,
then starts `empire server` (fake scheduler and images: the control plane) alternately with
EMPIRE_METRICS=false and with metrics on (the engine collector every 5 s, Prometheus' scrape
of /metrics every 5 s from a thread, as a scraper would), and measures the releases list's
throughput from 8 concurrent clients for 10 s (as bench/api.py) and the server's RSS at idle
after it. The machine is shared and other work moves the throughput by tens of percent, so
the server's own CPU time per request (from /proc, which others' load moves much less) is
printed too: its change is what metrics cost a request. Rounds alternate; medians are
printed. Last, in process, what is deterministic: the middleware's cost per request (the
same trivial ASGI app called with and without it) and a scrape's time at 100 apps. Budget:
at most 5 % less throughput and 10 MB more RSS with metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from empire.core import Empire  # noqa: E402
from empire.events import NullSink  # noqa: E402
from empire.images.fake import FakeImages  # noqa: E402
from empire.scheduler.fake import FakeScheduler  # noqa: E402
from empire.secrets import Cipher  # noqa: E402
from empire.store import migrate  # noqa: E402
from empire.store.sql import SqlStore, connect  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from api import ENCRYPTION_KEY, SECRET_KEY, start_server  # noqa: E402

APPS = 100
BUSY = "app-0003"
SCRAPE_EVERY = 5.0
SCRAPES: list[float] = []  # every scrape's time, seconds


def seed(url: str) -> str:
    """Create the apps; return a global admin's token."""
    store = SqlStore(
        connect(url), expected_revision=migrate.head(), cipher=Cipher((ENCRYPTION_KEY,))
    )
    migrate.upgrade(store.engine)
    empire = Empire(
        store=store,
        scheduler=FakeScheduler(),
        images=FakeImages(
            default_procfile=b"web: ./bin/web\nworker: ./bin/worker\n", accept_any=True
        ),
        events=NullSink(),
        token_ttl=None,
        secret_key=SECRET_KEY,
    )
    user, token = empire.create_user("bench", admin=True)
    for i in range(APPS):
        empire.deploy(f"acme/app-{i:04d}:v1", by=user)
    for n in range(19):
        empire.set_config(BUSY, {"N": str(n)}, by=user)
    store.engine.dispose()
    return token


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(base: str, token: str, clients: int = 8, seconds: float = 10.0) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            while time.monotonic() < stop:
                r = c.get(f"/apps/{BUSY}/releases", headers={"Range": "version ..; max=20"})
                assert r.status_code in (200, 206), r.text
                counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scraper(
    base: str, token: str, stop: threading.Event, sizes: list[int], times: list[float]
) -> None:
    """GET /metrics every SCRAPE_EVERY seconds until `stop`, as Prometheus would."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        while not stop.is_set():
            started = time.perf_counter()
            response = c.get("/metrics")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            sizes.append(len(response.content))
            stop.wait(SCRAPE_EVERY)


def middleware_cost(calls: int = 20_000, rounds: int = 5) -> float:
    """Microseconds the metrics middleware adds to one request (best of `rounds`)."""
    from empire.api.instrument import Instrument
    from empire.metrics.registry import Metrics

    route = type("Route", (), {"path": "/apps/{app}/releases"})()

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"[]"})  # type: ignore[operator]

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        pass

    measured = Instrument(app, metrics=Metrics())

    async def loop(target: object) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            scope = {"type": "http", "method": "GET", "path": "/apps/a/releases", "headers": []}
            await target(scope, receive, send)  # type: ignore[operator]
        return time.perf_counter() - started

    best = float("inf")
    for _ in range(rounds):
        bare = asyncio.run(loop(app))
        with_metrics = asyncio.run(loop(measured))
        best = min(best, (with_metrics - bare) / calls * 1e6)
    return best


def one(url: str, data_dir: str, token: str, metrics: bool) -> tuple[float, float, int, float]:
    settings = {"EMPIRE_METRICS": "true" if metrics else "false", "EMPIRE_METRICS_INTERVAL": "5"}
    proc, base = start_server(url, data_dir, settings)
    stop, sizes, times = threading.Event(), [], []  # type: ignore[var-annotated]
    thread = threading.Thread(target=scraper, args=(base, token, stop, sizes, times))
    try:
        if metrics:
            thread.start()
        throughput(base, token, seconds=2.0)  # warm-up
        before = cpu_seconds(proc.pid)
        rps = throughput(base, token)
        cpu_ms = (cpu_seconds(proc.pid) - before) * 1000 / max(1.0, rps * 10.0)
        time.sleep(6)  # idle: a collector round and a scrape happen meanwhile
        rss = rss_mb(proc.pid)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        proc.terminate()
        proc.wait(timeout=30)
    SCRAPES.extend(times)
    return rps, rss, max(sizes, default=0), cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        url = f"sqlite:///{data_dir}/empire.db"
        started = time.monotonic()
        token = seed(url)
        print(f"seeded {APPS} apps in {time.monotonic() - started:.1f} s")
        results: dict[bool, list[tuple[float, float, int, float]]] = {False: [], True: []}
        for n in range(args.rounds):
            for metrics in (False, True):
                rps, rss, size, cpu = one(url, data_dir, token, metrics)
                results[metrics].append((rps, rss, size, cpu))
                label = "with metrics   " if metrics else "without metrics"
                print(
                    f"round {n + 1} {label}: {rps:7.0f} requests/s, {cpu:.2f} ms CPU a "
                    f"request, RSS {rss:5.1f} MB"
                )
    off_rps = statistics.median(r[0] for r in results[False])
    on_rps = statistics.median(r[0] for r in results[True])
    off_rss = statistics.median(r[1] for r in results[False])
    on_rss = statistics.median(r[1] for r in results[True])
    off_cpu = statistics.median(r[3] for r in results[False])
    on_cpu = statistics.median(r[3] for r in results[True])
    size = max(r[2] for r in results[True])
    drop = (off_rps - on_rps) / off_rps * 100
    print(f"releases list, 8 clients x 10 s (median of {args.rounds}):")
    print(f"  without metrics: {off_rps:.0f} requests/s   with: {on_rps:.0f} requests/s")
    print(f"  change: {-drop:+.1f} % (budget: -5 % at most; the machine is shared: see CPU)")
    print(f"  server CPU a request: without {off_cpu:.2f} ms, with {on_cpu:.2f} ms")
    print(
        f"  change: {(on_cpu - off_cpu) / off_cpu * 100:+.1f} % "
        f"(throughput bound by the server's CPU changes by about the inverse)"
    )
    print(f"server RSS at idle: without {off_rss:.1f} MB, with {on_rss:.1f} MB")
    print(f"  change: {on_rss - off_rss:+.1f} MB (budget: +10 MB at most)")
    scrape = statistics.median(SCRAPES) * 1000
    print(
        f"/metrics with {APPS} apps: {size / 1024:.1f} KB, {scrape:.0f} ms a scrape "
        f"(median, under load): {scrape / (SCRAPE_EVERY * 10):.2f} % of a core at one scrape "
        f"every {SCRAPE_EVERY:g} s"
    )
    cost = middleware_cost()
    served = statistics.median(r[3] for r in results[False]) * 1000
    print(
        f"in process: the middleware adds {cost:.1f} us a request, "
        f"{cost / served * 100:.1f} % of the {served / 1000:.2f} ms a request costs the server"
    )


if __name__ == "__main__":
    main()
