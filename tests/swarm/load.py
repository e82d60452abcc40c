"""A bounded HTTP load loop, run inside the manager's network namespace by the tests.

    nsenter --net=/var/run/netns/<ns> -- python load.py URL HOST MAX_REQUESTS MAX_SECONDS

One new connection per request (as independent clients), GET `URL` with `Host: HOST`, a 2 s
timeout, about 10 ms apart. It stops at MAX_REQUESTS, after MAX_SECONDS, or when asked on
stdin, whichever comes first: a line `N` asks it to stop after N more requests, the end of
stdin to stop now. It prints one JSON line: the total, the failures (anything but a 200, with
the first few errors), how many times each body was seen and why it stopped (`asked`, `most`
or `deadline`), so a test knows the load covered everything up to its request.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
from collections import Counter


def main() -> None:
    url, host, most, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    target = urllib.parse.urlsplit(url)
    bodies: Counter[str] = Counter()
    errors: list[str] = []
    failed = total = 0
    stop = threading.Event()  # stop now
    asked = threading.Event()  # a stop was asked for: now, or after request `last[0]`
    last = [0]

    def listen() -> None:
        for line in sys.stdin:
            last[0] = total + int(line)
            asked.set()
        if not asked.is_set():
            asked.set()
            stop.set()

    threading.Thread(target=listen, daemon=True).start()
    deadline = time.monotonic() + seconds
    print("started", flush=True)
    while True:
        if stop.is_set() or (asked.is_set() and total >= last[0]):
            stopped = "asked"
            break
        if total >= most:
            stopped = "most"
            break
        if time.monotonic() >= deadline:
            stopped = "deadline"
            break
        began = time.monotonic()
        total += 1
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=2)
        try:
            conn.request("GET", target.path or "/", headers={"Host": host})
            response = conn.getresponse()
            body = response.read().decode(errors="replace").strip()
            if response.status == 200:
                bodies[body] += 1
            else:
                failed += 1
                errors.append(f"{time.time():.3f} HTTP {response.status}: {body[:80]}")
        except (OSError, http.client.HTTPException) as e:
            failed += 1
            errors.append(f"{time.time():.3f} {type(e).__name__}: {e}")
        finally:
            conn.close()
        time.sleep(max(0.0, 0.01 - (time.monotonic() - began)))
    summary = {
        "total": total,
        "failed": failed,
        "errors": errors[:10],
        "bodies": dict(bodies),
        "stopped": stopped,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
