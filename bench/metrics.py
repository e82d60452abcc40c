"""What metrics cost: API throughput and idle RSS with 100 apps, with and without metrics.

    .venv/bin/python bench/metrics.py              # SQLite, 3 rounds each way
    .venv/bin/python bench/metrics.py --rounds 1

Seeds 100 apps (web and worker, each deployed once; one with 20 releases) through the facade,
then starts `empire server` (fake scheduler and images: the control plane) alternately with
EMPIRE_METRICS=false and with metrics on (the engine collector every 5 s, Prometheus' scrape
of /metrics every 5 s from a thread, as a scraper would), and measures the releases list's
throughput from 8 concurrent clients for 10 s (as bench/api.py) and the server's RSS at idle
after it. The machine is shared: rounds alternate and the medians are printed. Budget: at
most 5 % less throughput and 10 MB more RSS with metrics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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
from empire.secrets import Cipher, generate_key  # noqa: E402
from empire.store import migrate  # noqa: E402
from empire.store.sql import SqlStore, connect  # noqa: E402
from support.services import free_port  # noqa: E402

APPS = 100
BUSY = "app-0003"
SCRAPE_EVERY = 5.0
ENCRYPTION_KEY = generate_key()
SECRET_KEY = generate_key()


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


def start_server(url: str, data_dir: str, metrics: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "EMPIRE_DATABASE_URL": url,
        "EMPIRE_DATA_DIR": data_dir,
        "EMPIRE_SCHEDULER": "fake",
        "EMPIRE_IMAGES": "fake",
        "EMPIRE_LOG_LEVEL": "warning",
        "EMPIRE_RATE_LIMIT_PER_HOUR": "0",
        "EMPIRE_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "EMPIRE_SECRET_KEY": SECRET_KEY,
        "EMPIRE_METRICS": "true" if metrics else "false",
        "EMPIRE_METRICS_INTERVAL": "5",
    }
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/empire"), "server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


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


def scraper(base: str, token: str, stop: threading.Event, sizes: list[int]) -> None:
    """GET /metrics every SCRAPE_EVERY seconds until `stop`, as Prometheus would."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        while not stop.is_set():
            response = c.get("/metrics")
            assert response.status_code == 200, response.text
            sizes.append(len(response.content))
            stop.wait(SCRAPE_EVERY)


def one(url: str, data_dir: str, token: str, metrics: bool) -> tuple[float, float, int]:
    proc, base = start_server(url, data_dir, metrics)
    stop, sizes = threading.Event(), []  # type: ignore[var-annotated]
    thread = threading.Thread(target=scraper, args=(base, token, stop, sizes))
    try:
        if metrics:
            thread.start()
        throughput(base, token, seconds=2.0)  # warm-up
        rps = throughput(base, token)
        time.sleep(6)  # idle: a collector round and a scrape happen meanwhile
        rss = rss_mb(proc.pid)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        proc.terminate()
        proc.wait(timeout=30)
    return rps, rss, max(sizes, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        url = f"sqlite:///{data_dir}/empire.db"
        started = time.monotonic()
        token = seed(url)
        print(f"seeded {APPS} apps in {time.monotonic() - started:.1f} s")
        results: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
        for n in range(args.rounds):
            for metrics in (False, True):
                rps, rss, size = one(url, data_dir, token, metrics)
                results[metrics].append((rps, rss, size))
                label = "with metrics   " if metrics else "without metrics"
                print(f"round {n + 1} {label}: {rps:7.0f} requests/s, RSS {rss:5.1f} MB")
    off_rps = statistics.median(r for r, _, _ in results[False])
    on_rps = statistics.median(r for r, _, _ in results[True])
    off_rss = statistics.median(m for _, m, _ in results[False])
    on_rss = statistics.median(m for _, m, _ in results[True])
    size = max(s for _, _, s in results[True])
    drop = (off_rps - on_rps) / off_rps * 100
    print(f"releases list, 8 clients x 10 s (median of {args.rounds}):")
    print(f"  without metrics: {off_rps:.0f} requests/s   with: {on_rps:.0f} requests/s")
    print(f"  change: {-drop:+.1f} % (budget: -5 % at most)")
    print(f"server RSS at idle: without {off_rss:.1f} MB, with {on_rss:.1f} MB")
    print(f"  change: {on_rss - off_rss:+.1f} MB (budget: +10 MB at most)")
    print(f"/metrics body with {APPS} apps: {size / 1024:.1f} KB")


if __name__ == "__main__":
    main()
