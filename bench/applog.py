"""What the app log costs: a router line per request, and the memory it keeps.

    .venv/bin/python bench/applog.py

Feeds Caddy's two JSON lines per request (the upstream roundtrip, then the access line) for
`--requests` requests spread over `--apps` apps through the follower's parser
(`router.accesslog.Requests`), the `router` line writer and the in-memory app log, with one
follow listening; prints the time per request, then the memory the full histories hold.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc

from empire.applogs.memory import MemoryAppLog
from empire.applogs.requests import RouterLines
from empire.router import Endpoint, Route
from empire.router.accesslog import Requests


def caddy(entry: dict[str, object]) -> str:
    return json.dumps(entry, separators=(",", ":"))  # as Caddy writes it


def lines(app: int, n: int) -> tuple[str, str]:
    request = {
        "remote_ip": "203.0.113.9",
        "remote_port": str(40000 + n % 20000),
        "proto": "HTTP/1.1",
        "method": "GET",
        "host": f"www.app{app}.test",
        "uri": f"/items/{n}?page=2",
        "headers": {"User-Agent": ["bench"], "Accept": ["*/*"], "X-Request-Id": [f"rid-{n}"]},
    }
    trip = {
        "level": "debug",
        "ts": 1.8e9 + n / 1000,
        "logger": "http.handlers.reverse_proxy",
        "msg": "upstream roundtrip",
        "upstream": f"empire-app{app}-web-1-v1-abcd.:8080",
        "duration": 0.003,
        "request": request,
        "headers": {"Content-Type": ["text/html"]},
        "status": 200,
    }
    access = {
        "level": "info",
        "ts": 1.8e9 + n / 1000 + 0.0001,
        "logger": "http.log.access",
        "msg": "handled request",
        "request": request,
        "duration": 0.004,
        "size": 1234,
        "status": 200,
        "resp_headers": {"X-Request-Id": [f"rid-{n}"]},
    }
    return caddy(trip), caddy(access)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    routes = [
        Route(
            f"id-{a}",
            f"app{a}",
            hostnames=(f"www.app{a}.test",),
            processes=(("web", (Endpoint(f"empire-app{a}-web-1-v1-abcd", 8080),)),),
        )
        for a in range(args.apps)
    ]
    applog = MemoryAppLog()
    followed: list[object] = []
    applog.follow("id-0", followed.append)
    feed = Requests(lambda: routes, [RouterLines(applog)])
    pairs = [lines(n % args.apps, n) for n in range(min(args.requests, 20_000))]
    started = time.perf_counter()
    for n in range(args.requests):
        trip, access = pairs[n % len(pairs)]
        feed.floor = 0.0
        feed.feed(trip)
        feed.feed(access)
    took = time.perf_counter() - started
    tracemalloc.start()  # the histories again, traced (tracing slows the run above 3x)
    applog = MemoryAppLog()
    feed = Requests(lambda: routes, [RouterLines(applog)])
    for n in range(args.apps * 1_600):
        trip, access = pairs[n % len(pairs)]
        feed.feed(trip)
        feed.feed(access)
    current, _ = tracemalloc.get_traced_memory()
    pairs.clear()
    kept = sum(len(applog.history(f"id-{a}")) for a in range(args.apps))
    print(
        f"{args.requests} requests over {args.apps} apps: {took:.2f} s, "
        f"{took / args.requests * 1e6:.1f} µs per request ({args.requests / took:,.0f}/s)"
    )
    print(f"lines kept: {kept} ({kept // args.apps} per app); follow got {len(followed)}")
    per_app = current / args.apps / 1e3
    print(f"memory the full histories hold: {current / 1e6:.1f} MB ({per_app:.0f} kB per app)")


if __name__ == "__main__":
    main()
