"""A bounded HTTP probe, run inside a network namespace (a container's, or a test netns).

    nsenter --net=/proc/<pid>/ns/net -- python probe.py URL HOST MODE MAX_REQUESTS MAX_SECONDS
        [DNS_SERVER]

MODE is `fresh` (a new connection per request, the name resolved each time, as independent
clients do) or `keepalive` (one connection reused for every request, opened again only when
the server closed it cleanly between two requests, as HTTP/1.1 clients do). URL's host is
resolved through DNS_SERVER (e.g. 127.0.0.11: the engine's DNS, inside a container's
namespace), else the system's resolver. Requests go about 10 ms apart; the probe stops at
MAX_REQUESTS, after MAX_SECONDS, or when its stdin closes, whichever comes first, and prints
one JSON line: the total, the failures (anything but a 200, with the first few errors), and
how many times each body was seen. Only the standard library and dnspython.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter

MAX_ERRORS = 10


def resolve(name: str, server: str | None) -> str:
    if server is None:
        return socket.gethostbyname(name)
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.lifetime = 2.0
    return str(resolver.resolve(name, "A")[0])


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether the server closed the idle connection (it is readable: at end of file)."""
    if conn.sock is None:
        return True
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def main() -> None:
    url, host, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    most, seconds = int(sys.argv[4]), float(sys.argv[5])
    server = sys.argv[6] if len(sys.argv) > 6 else None
    target = urllib.parse.urlsplit(url)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    bodies: Counter[str] = Counter()
    errors: list[str] = []
    failed = total = reconnects = 0
    conn: http.client.HTTPConnection | None = None
    deadline = time.monotonic() + seconds
    print("started", flush=True)
    while not stop.is_set() and total < most and time.monotonic() < deadline:
        total += 1
        try:
            if conn is not None and _dropped(conn):
                conn.close()  # closed cleanly while idle: open another, as urllib3 does
                conn = None
            if conn is None or mode == "fresh":
                address = resolve(target.hostname or "", server)
                conn = http.client.HTTPConnection(address, target.port or 80, timeout=5)
                reconnects += 1
            conn.request("GET", target.path or "/", headers={"Host": host})
            response = conn.getresponse()
            body = response.read().decode(errors="replace").strip()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:80]}")
            bodies[body[:40]] += 1
            if mode == "fresh" or response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:
            failed += 1
            if len(errors) < MAX_ERRORS:
                errors.append(f"#{total}: {type(e).__name__}: {e}"[:200])
            if conn is not None:
                conn.close()
                conn = None
        time.sleep(0.01)
    result = {
        "total": total,
        "failed": failed,
        "errors": errors,
        "bodies": dict(bodies),
        "connections": reconnects,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
