"""Log drains at scale: 100 apps each with a syslog drain, then with a drain that accepts
nothing beside them.

    .venv/bin/python bench/drains.py                 # 100 apps, 60 s with the dead drain
    .venv/bin/python bench/drains.py --apps 20 --dead-seconds 10
    .venv/bin/python bench/drains.py --api           # what drains cost `empire server`

In-process: the drain service (one event loop thread for every outlet, one follow thread per
app waiting on a quiet scheduler), lines written through an AppLog as the platform writes
them, received by a syslog receiver in another process (it counts bytes: every frame has the
same length, so bytes / length = frames). Prints the RSS the drains cost at idle, the lines
per second delivered to all drains, and the same while a drain that accepts nothing (a
listening socket never read) sits beside them.

With `--api`: `empire server` (fake scheduler, SQLite) with 100 deployed apps, the API's
throughput (8 clients on a releases list, as bench/api.py) and idle RSS without drains, then
with a syslog drain on each app (added while it runs, to a receiver in another process).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from empire.applog import LogLine  # noqa: E402
from empire.core import Empire  # noqa: E402
from empire.drains.frames import frame  # noqa: E402
from empire.drains.outlet import Connector  # noqa: E402
from empire.drains.rules import Drain  # noqa: E402
from empire.drains.service import DrainService  # noqa: E402
from empire.scheduler import LogQuery  # noqa: E402
from empire.settings import Settings  # noqa: E402
from support.drains import BlackHole, MemoryAppLog  # noqa: E402

TEXT = "at=info method=GET path=/ status=200 bytes=1234 " + "x" * 60
AT = datetime(2026, 1, 1, tzinfo=UTC)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def receive(port: int, counter: Any, ready: Any) -> None:
    """The receiver process: count every byte on every connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1 << 16):
            with counter.get_lock():
                counter.value += len(chunk)

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Quiet:
    """A scheduler whose apps print nothing: each follow yields "" every second."""

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        while True:
            time.sleep(1.0)
            yield ""


class Drains:
    def __init__(self) -> None:
        self.rows: list[tuple[str, Drain]] = []

    def live_drains(self) -> list[tuple[str, Drain]]:
        return list(self.rows)


def measure(
    applog: MemoryAppLog, apps: list[str], lines: int, counter: Any, size: int, first: int = 0
) -> float:
    """Write `lines` lines round-robin over the apps (the first app gets `first` more, in
    between); return lines/s delivered to the live drains (all of them)."""
    start_bytes = counter.value
    started = time.perf_counter()
    order = [apps[n % len(apps)] for n in range(lines)]
    step = max(1, lines // first) if first else 0
    if first:
        for n in range(first):
            order.insert(n * (step + 1), apps[0])
    lines = len(order)
    for n, app_id in enumerate(order):
        applog.lines.clear() if n % 10_000 == 0 else None  # the bench keeps no history
        applog.write(LogLine(app_id, app_id, "router", TEXT, AT))
    target = start_bytes + lines * size
    deadline = time.monotonic() + 120
    while counter.value < target and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    delivered = (counter.value - start_bytes) // size
    if delivered < lines:
        print(f"  (only {delivered} of {lines} lines arrived within 120 s)")
    return delivered / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--dead-seconds", type=float, default=60.0)
    parser.add_argument("--api", action="store_true", help="what drains cost empire server")
    args = parser.parse_args()

    port = _free_port()
    counter = multiprocessing.Value("q", 0)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=receive, args=(port, counter, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    if args.api:
        api_cost(args, port, counter)
        receiver.terminate()
        return

    apps = [f"app-{n:04d}" for n in range(args.apps)]
    size = len(frame("d.00000000", apps[0], "router", TEXT, AT))
    drains, applog = Drains(), MemoryAppLog()
    for n, app in enumerate(apps):
        drain = Drain(f"id-{n}", app, f"syslog://127.0.0.1:{port}", f"d.{n:08d}", AT, AT)
        drains.rows.append((app, drain))
    connector = Connector(ssl.create_default_context(), allow_local=True)
    before = rss_mb()
    threads_before = threading.active_count()
    service = DrainService(drains, Quiet(), connector, applog, refresh_every=1.0)
    service.start()
    _wait(lambda: len(service.outlets()) == len(apps), what="the drains")
    for app in apps:  # one line each: every outlet connects
        applog.write(LogLine(app, app, "router", TEXT, AT))
    _wait(lambda: counter.value >= len(apps) * size, what="the first line of every drain")
    time.sleep(2)
    idle = rss_mb()
    print(f"{args.apps} apps with a syslog drain each (pid {os.getpid()})")
    print(
        f"  idle RSS: {before:.1f} MB before the drains, {idle:.1f} MB with them "
        f"(+{idle - before:.1f} MB, {(idle - before) * 1024 / args.apps:.0f} kB a drain)"
    )
    print(
        f"  threads: {threads_before} before, {threading.active_count()} with them "
        "(one event loop for every outlet, one follow thread per app)"
    )

    full = measure(applog, apps, args.lines, counter, size)
    print(f"  throughput: {full:,.0f} lines/s delivered ({args.lines:,} lines, all received)")

    def rounds() -> list[float]:
        """Rounds of lines//4 lines for --dead-seconds, a tenth more of them to the first app
        (the one that gets the dead drain: its buffer stays full)."""
        rates = []
        started, cpu = time.monotonic(), time.process_time()
        while time.monotonic() - started < args.dead_seconds:
            rates.append(measure(applog, apps, args.lines // 4, counter, size, args.lines // 40))
        lines = len(rates) * (args.lines // 4 + args.lines // 40)
        cpu_us.append((time.process_time() - cpu) / lines * 1e6)
        return rates

    cpu_us: list[float] = []  # CPU (all threads of this process) per line, per phase

    without = rounds()
    hole = BlackHole()
    dead = Drain("id-dead", apps[0], f"syslog://127.0.0.1:{hole.port}", "d.deaddead", AT, AT)
    drains.rows.append((apps[0], dead))
    service.changed()
    _wait(lambda: len(service.outlets()) == args.apps + 1, what="the dead drain")
    rates = rounds()
    service.report()
    stuck = next(o for o in service.outlets() if o.drain.id == "id-dead")
    overflow = [line.text for line in applog.lines if line.source == "drain"]
    baseline = sum(without) / len(without)
    worst, mean = min(rates), sum(rates) / len(rates)
    print(
        f"  {args.dead_seconds:g} s without a dead drain: {baseline:,.0f} lines/s on average "
        f"over {len(without)} rounds"
    )
    print(
        f"  {args.dead_seconds:g} s with a drain that accepts nothing: {mean:,.0f} lines/s on "
        f"average, {worst:,.0f} at worst over {len(rates)} rounds "
        f"({(mean / baseline - 1) * 100:+.1f} % vs without it)"
    )
    print(
        f"  CPU per line written (the writer and every drain): {cpu_us[0]:.1f} µs without the "
        f"dead drain, {cpu_us[1]:.1f} µs with it"
    )
    print(
        f"  the dead drain holds {stuck.buffered:,} lines (its bound: {stuck.capacity:,}); "
        f"overflow line: {overflow[-1] if overflow else '(none)'}"
    )
    print(f"  RSS at the end: {rss_mb():.1f} MB")
    service.close()
    hole.close()
    receiver.terminate()


def api_cost(args: argparse.Namespace, port: int, counter: Any) -> None:
    """The API's throughput and idle RSS without drains, then with one on each app."""
    sys.path.insert(0, str(ROOT / "bench"))
    import api as api_bench  # bench/api.py: its server, throughput and RSS helpers
    from empire.events import NullSink
    from empire.images.fake import FakeImages
    from empire.scheduler.fake import FakeScheduler
    from empire.secrets import Cipher
    from empire.store import migrate
    from empire.store.sql import SqlStore, connect
    from empire.wiring import build_drain_policy

    os.environ["EMPIRE_DRAINS_ALLOW_LOCAL"] = "true"
    with tempfile.TemporaryDirectory() as data_dir:
        url = f"sqlite:///{data_dir}/empire.db"
        store = SqlStore(connect(url), cipher=Cipher((api_bench.ENCRYPTION_KEY,)))
        migrate.upgrade(store.engine)
        empire = Empire(
            store=store,
            scheduler=FakeScheduler(),
            images=FakeImages(default_procfile=b"web: ./bin/web\n", accept_any=True),
            events=NullSink(),
            token_ttl=None,
            secret_key=api_bench.SECRET_KEY,
        )
        empire.drain_policy = dataclasses.replace(
            build_drain_policy(Settings.from_env({"EMPIRE_DATA_DIR": data_dir})), allow_local=True
        )
        user, token = empire.create_user("bench", admin=True)
        apps = [f"app-{n:04d}" for n in range(args.apps)]
        for app in apps:
            empire.deploy(f"acme/{app}:v1", by=user)
        proc, base = api_bench.start_server(url, data_dir)
        try:
            without = [api_bench.throughput(base, token) for _ in range(2)]
            time.sleep(3)
            before = api_bench.rss_mb(proc.pid)  # idle, after the same load as `after`
            for app in apps:
                empire.add_drain(app, f"syslog://127.0.0.1:{port}", by=user)
            time.sleep(8)  # the server reads the drains every 5 s
            after = api_bench.rss_mb(proc.pid)
            with_drains = [api_bench.throughput(base, token) for _ in range(2)]
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"empire server with {args.apps} apps (fake scheduler, SQLite)")
    print(
        f"  idle RSS: {before:.1f} MB without drains, {after:.1f} MB with one on each app "
        f"(+{after - before:.1f} MB)"
    )
    base_rate, rate = max(without), max(with_drains)
    print(
        f"  throughput (8 clients, releases list, best of 2 x 10 s): {base_rate:,.0f} req/s "
        f"without drains, {rate:,.0f} with them ({(rate / base_rate - 1) * 100:+.1f} %)"
    )


def _wait(condition: Any, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
