"""What one web instance dying behind Empire's back costs, over many trials.

    .venv/bin/python bench/faults.py [TRIALS]      # default 40

An app with two web instances behind Caddy, under a sequential load (one request at a time,
10 ms apart, a new connection each), on the machine's main engine. Each trial removes one
instance (`docker rm -f`, alternating) and waits until the reconciler has replaced it and the
router serves both again. Prints the failed requests per trial and in all, with the times of
the failures relative to the removal: the fault tier asserts that traffic never stops; this
measures how often a request is lost anyway (Caddy fails a request that dialed a dead upstream
while a new config replaces the one it was served by).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support import busybox  # noqa: E402
from support.faults import FaultStack, Load  # noqa: E402

APP, HOST = "victim", "victim.fx.bench"


def main(trials: int) -> None:
    client = docker.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="empire-fx-bench-"))
    base = busybox.build_base(client, workdir)
    web = busybox.build_app(client, base, workdir, procfile=busybox.WEB)
    stack = FaultStack(workdir / "stack", client).start()
    try:
        assert stack.deploy(web, APP).verdict.endswith("succeeded")
        app_id = stack.call("GET", f"/apps/{APP}").json()["id"]
        body = {"updates": [{"type": "web", "quantity": 2}]}
        assert stack.call("PATCH", f"/apps/{APP}/formation", json=body).status_code == 200
        assert stack.call("POST", f"/apps/{APP}/domains", json={"hostname": HOST}).is_success
        assert stack.converge(APP, HOST, quantity=2) == []
        total = failed = 0
        for trial in range(trials):
            with Load(stack, HOST) as load:
                time.sleep(0.5)
                running = sorted(
                    (c for c in stack.containers(app_id) if c.status == "running"),
                    key=lambda c: c.labels["empire.index"],
                )
                removed = time.monotonic()
                running[trial % 2].remove(force=True)
                time.sleep(1.0)
                left = stack.converge(APP, HOST, quantity=2, timeout=30)
                time.sleep(0.5)
            lost = [(round(t - removed, 2), s) for t, s, _ in load.failures]
            total += len(load.results)
            failed += len(lost)
            print(
                f"trial {trial + 1:3}: {len(lost)}/{len(load.results)} failed {lost} {left or ''}"
            )
        print(f"in all: {failed}/{total} requests failed over {trials} removals")
    finally:
        stack.close()
        busybox.remove(client, web, base)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
