"""Restart dockerd: every app serves again; the reconciler heals what the restart policy did not.

On a dedicated engine (its own network namespace, socket, pidfile, data and exec roots; never
the machine's main one), with Empire, Caddy and the load inside that namespace too. Two public
apps: `alpha` with two web instances, `beta` with one whose restart policy is taken away before
the restart (as for a container caught mid-rollout), so the engine does not bring it back and
the reconciler must. dockerd is stopped with SIGTERM (it stops every container) and started
again. While it is down the apps cannot answer; afterwards both must serve again, converged.
"""

from __future__ import annotations

import time
from pathlib import Path

from support import busybox
from support.faults import Engine, FaultStack, Load, Netns, record

APPS = {"alpha": ("alpha.fx.test", 2), "beta": ("beta.fx.test", 1)}


def test_apps_serve_again_after_dockerd_restarts(tmp_path: Path) -> None:
    netns = Netns()
    engine: Engine | None = None
    stack: FaultStack | None = None
    try:
        engine = Engine(netns)
        engine.start()
        base = busybox.build_base(engine.client, tmp_path / "images")
        web = busybox.build_app(engine.client, base, tmp_path / "images", procfile=busybox.WEB)
        stack = FaultStack(
            tmp_path / "stack", engine.client, docker_host=engine.base_url, netns=netns
        ).start()
        ids = {}
        for app, (host, quantity) in APPS.items():
            assert stack.deploy(web, app).verdict == f"Status: Release v1 of {app} succeeded"
            ids[app] = stack.call("GET", f"/apps/{app}").json()["id"]
            body = {"updates": [{"type": "web", "quantity": quantity}]}
            assert stack.call("PATCH", f"/apps/{app}/formation", json=body).status_code == 200
            assert stack.call("POST", f"/apps/{app}/domains", json={"hostname": host}).is_success
            assert stack.converge(app, host, quantity) == []
        alpha = {c.id for c in stack.containers(ids["alpha"])}
        (beta,) = stack.containers(ids["beta"])
        beta.update(restart_policy={"Name": "no"})

        loads = [Load(stack, host).start() for host, _ in APPS.values()]
        problems: list[str] = []
        try:
            for load in loads:
                load.more(50)
            down = time.monotonic()
            engine.restart()  # SIGTERM, wait, reap; start again on the same roots
            back = time.monotonic() - down
            for app, (host, quantity) in APPS.items():
                problems += [f"{app}: {p}" for p in stack.converge(app, host, quantity, 60)]
            healed = time.monotonic() - down
            for load in loads:
                load.more(50)
        finally:
            for load in loads:
                load.stop()
        # Who healed what: the engine restarted alpha's containers, the reconciler replaced beta's.
        if {c.id for c in stack.containers(ids["alpha"])} != alpha:
            problems.append("alpha's containers were replaced, not restarted by the engine")
        if beta.id in {c.id for c in stack.containers(ids["beta"])}:
            problems.append("beta's container came back by itself: the test proves nothing")
        for load in loads:
            if not load.results or load.results[-1][1] != 200:
                problems.append(f"{load.host}: traffic did not come back: {load.results[-3:]}")
        lost = sum(1 for app in APPS if [r["version"] for r in stack.releases(app)] != [1])
        record(
            "dockerd restarted",
            survived=not problems,
            requests=sum(len(load.results) for load in loads),
            failed=sum(len(load.failures) for load in loads),
            lost=lost,
            note=f"engine back in {back:.1f}s, both apps converged {healed:.1f}s after the stop; "
            f"traffic stopped for {max(load.outage() for load in loads):.1f}s",
        )
        assert not problems, "\n".join(problems)
    finally:
        if stack is not None:
            stack.close()
        if engine is not None:
            engine.close()
        netns.close()
