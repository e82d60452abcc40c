"""Memory of the token cache under random tokens (issue 13, item 11).

    .venv/bin/python bench/token_cache.py [--tokens 70000]

Authenticates a known token, then N random ones (each unknown: a 401 the cache remembers for
a few seconds), through the facade on SQLite, and prints how much the resident set grew (after
a collection); with --heap, the Python heap's growth instead (tracemalloc, slower).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import resource
import secrets
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from empire.errors import Unauthorized  # noqa: E402
from support.stack import make_stack  # noqa: E402


def rss_mb() -> float:
    """The current resident set (Linux: /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=70_000)
    parser.add_argument("--heap", action="store_true", help="measure the heap (tracemalloc)")
    args = parser.parse_args()
    count = args.tokens
    with tempfile.TemporaryDirectory() as tmp:
        stack = make_stack(Path(tmp))
        empire = stack.empire
        empire.authenticate(stack.token)
        for _ in range(1000):  # warm the code paths and the store's caches
            with contextlib.suppress(Unauthorized):
                empire.authenticate(secrets.token_urlsafe(32))
        gc.collect()
        if args.heap:
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0] if args.heap else rss_mb() * 2**20
        for _ in range(count):
            with contextlib.suppress(Unauthorized):
                empire.authenticate(secrets.token_urlsafe(32))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] if args.heap else rss_mb() * 2**20
        what = "Python heap" if args.heap else "RSS"
        print(f"{count} random tokens: {what} +{(after - before) / 2**20:.1f} MB")


if __name__ == "__main__":
    main()
