"""API latency and throughput at scale, against a real server process on loopback.

    .venv/bin/python bench/api.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/api.py --db sqlite     # one of them

Seeds 1,000 apps each deployed once, ten of them with 100 releases, through the facade; starts
`empire server` (fake scheduler and images: this measures the control plane), then from one
keep-alive client after a warm-up measures p50/p90/p99 of five requests, the throughput of 8
concurrent clients for 10 s on the releases list, and the server's RSS at idle.
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
from support.services import PostgresCluster, free_port  # noqa: E402

APPS = 1000
BUSY_APPS = 10
BUSY_RELEASES = 100
SAMPLES = 500
GO_EMPIRE = {"apps": 11.4, "releases": 3.9, "config": 2.6, "formation": 2.4, "patch": 10.1}


# The server runs as in production: config vars encrypted at rest, tokens HMAC'd.
ENCRYPTION_KEY = generate_key()
SECRET_KEY = generate_key()


def seed(url: str) -> tuple[str, str]:
    """Create the apps and releases; return the API tokens of a global admin and of a user
    who is a deployer of the measured apps through a team (roles cost a query for them)."""
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
    for i in range(BUSY_APPS):
        for n in range(BUSY_RELEASES - 1):
            empire.set_config(f"app-{i:04d}", {"N": str(n)}, by=user)
    member, member_token = empire.create_user("dev")
    empire.create_team("devs", by=user)
    empire.add_member("devs", member.name, by=user)
    for app in (BUSY, PATCHED):
        empire.grant(app, "team:devs", "deployer", by=user)
    if store.engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of a bulk load: without statistics the planner
        # guesses, and the plans change mid-run when it catches up.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    store.engine.dispose()
    return token, member_token


def start_server(
    url: str, data_dir: str, settings: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`empire server` on the store at `url` (fake scheduler and images), with `settings`
    added to its environment; returns the process and its base URL once it answers."""
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
        **(settings or {}),
    }
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/empire"), "server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,  # the audit events, one JSON line each
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


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[89], q[98]


BUSY, PATCHED = "app-0003", "app-0500"


def measure(
    client: httpx.Client, skip: tuple[str, ...] = ()
) -> dict[str, tuple[float, float, float]]:
    busy = BUSY
    requests = {
        "apps": lambda: client.get("/apps"),
        "releases": lambda: client.get(
            f"/apps/{busy}/releases", headers={"Range": "version ..; max=20, order=desc"}
        ),
        "config": lambda: client.get(f"/apps/{busy}/config-vars"),
        "formation": lambda: client.get(f"/apps/{busy}/formation"),
        "patch": lambda: client.patch(f"/apps/{PATCHED}/config-vars", json={"FOO": "bar"}),
    }
    results = {}
    for name, call in requests.items():
        if name in skip:
            continue
        for _ in range(20):  # warm-up
            assert call().status_code in (200, 206), name
        samples = []
        for _ in range(SAMPLES):
            start = time.perf_counter()
            response = call()
            samples.append((time.perf_counter() - start) * 1000)
            assert response.status_code in (200, 206), (name, response.text)
        results[name] = percentiles(samples)
    return results


def throughput(base: str, token: str, clients: int = 8, seconds: float = 10.0) -> float:
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            while time.monotonic() < stop:
                r = c.get(
                    "/apps/app-0003/releases", headers={"Range": "version ..; max=20, order=desc"}
                )
                assert r.status_code in (200, 206)
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


def run(db: str) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        cluster = None
        if db == "postgres":
            cluster = PostgresCluster()
            cluster.start()
            url = cluster.url
        else:
            url = f"sqlite:///{data_dir}/empire.db"
        started = time.monotonic()
        token, member_token = seed(url)
        print(
            f"[{db}] seeded {APPS} apps and {BUSY_APPS}x{BUSY_RELEASES} releases "
            f"in {time.monotonic() - started:.1f} s"
        )
        proc, base = start_server(url, data_dir)
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
                results = measure(c)
            member = {"Authorization": f"Bearer {member_token}"}
            with httpx.Client(base_url=base, headers=member) as c:
                as_member = measure(c, skip=("apps",))  # they see 2 apps, not 1,000
            rps = throughput(base, token)
            time.sleep(2)
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            if cluster is not None:
                cluster.close()
    print(f"[{db}] {'request':<44}{'p50':>8}{'p90':>8}{'p99':>8}   Go Empire p50")
    labels = {
        "apps": "GET /apps",
        "releases": "GET /apps/{app}/releases (max=20, desc)",
        "config": "GET /apps/{app}/config-vars",
        "formation": "GET /apps/{app}/formation",
        "patch": "PATCH /apps/{app}/config-vars",
    }
    for name, (p50, p90, p99) in results.items():
        print(
            f"[{db}] {labels[name]:<44}{p50:>7.1f}ms{p90:>6.1f}ms{p99:>6.1f}ms"
            f"   {GO_EMPIRE[name]} ms"
        )
    print(f"[{db}] the same as a deployer through a team (not a global admin):")
    for name, (p50, p90, p99) in as_member.items():
        print(f"[{db}] {labels[name]:<44}{p50:>7.1f}ms{p90:>6.1f}ms{p99:>6.1f}ms")
    print(f"[{db}] releases list, 8 clients x 10 s: {rps:.0f} requests/s (Go Empire: 262-295)")
    print(f"[{db}] server RSS at idle: {rss:.0f} MB (Go Empire: 37 MB; budget 100 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        run(db)


if __name__ == "__main__":
    main()
