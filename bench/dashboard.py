"""The dashboard's server time and transfer at 1,000 apps, against a real server on loopback.

    .venv/bin/python bench/dashboard.py

Seeds as bench/api.py does (1,000 apps each deployed once, ten with 100 releases; SQLite,
fake scheduler and images: this measures the control plane), signs in through /login as a
browser does, then measures p50/p90/p99 of the apps list and of a busy app's page, and each
page's total transfer: the HTML plus every asset it loads (CSS, script), as a first visit
fetches them. Targets: the app page under 100 ms p50, each page under 300 KB.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import APPS, BUSY, percentiles, seed, start_server

SAMPLES = 200
PASSWORD = "bench-password"


def sign_in(base: str, data_dir: str, url: str) -> httpx.Client:
    from api import ENCRYPTION_KEY, SECRET_KEY
    from empire.core import Empire
    from empire.events import NullSink
    from empire.images.fake import FakeImages
    from empire.scheduler.fake import FakeScheduler
    from empire.secrets import Cipher
    from empire.store import migrate
    from empire.store.sql import SqlStore, connect

    store = SqlStore(
        connect(url), expected_revision=migrate.head(), cipher=Cipher((ENCRYPTION_KEY,))
    )
    empire = Empire(
        store=store,
        scheduler=FakeScheduler(),
        images=FakeImages(accept_any=True),
        events=NullSink(),
        secret_key=SECRET_KEY,
    )
    empire.set_password("bench", PASSWORD)
    store.engine.dispose()
    client = httpx.Client(base_url=base, headers={"Accept": "text/html"})
    signed = client.post("/login", data={"username": "bench", "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    return client


def transfer(client: httpx.Client, path: str) -> tuple[int, int]:
    """Bytes of the page's HTML and of everything it loads from this server."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)))
    loaded = sum(len(client.get(asset).content) for asset in assets)
    return len(page.content), loaded


def timed(client: httpx.Client, path: str) -> tuple[float, float, float]:
    for _ in range(10):
        assert client.get(path).status_code == 200
    samples = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return percentiles(samples)


def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        url = f"sqlite:///{data_dir}/empire.db"
        started = time.monotonic()
        seed(url)
        print(f"seeded {APPS} apps in {time.monotonic() - started:.1f} s")
        proc, base = start_server(url, data_dir)
        try:
            client = sign_in(base, data_dir, url)
            print(f"{'page':<22} {'p50':>8} {'p90':>8} {'p99':>8} {'html':>9} {'assets':>9}")
            for name, path in (("apps list", "/ui/apps"), ("app page (busy)", f"/ui/apps/{BUSY}")):
                p50, p90, p99 = timed(client, path)
                html, assets = transfer(client, path)
                print(
                    f"{name:<22} {p50:>6.1f}ms {p90:>6.1f}ms {p99:>6.1f}ms "
                    f"{html / 1024:>7.1f}KB {assets / 1024:>7.1f}KB"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
