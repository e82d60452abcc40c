"""No request lost on the swarm, inside or outside, through releases (issue 14's proof).

Clients inside the overlay network (a container on the manager's engine) call `http://<app>/`
and `http://web.<app>/`, with a new connection per request and with one kept alive; public
clients go through the router's published port, from inside the manager's namespace, both
ways. Meanwhile the app (web=2..3, a worker) goes through 10 deploys, 10 rollbacks, 5 scale
changes and 3 restarts, each one a Swarm update of its services.
"""

from __future__ import annotations

import json
from typing import Any

from empire.model import Outcome, Process
from support.probes import Probes, netns_of
from swarm.cluster import NETNS_DIR
from swarm.conftest import ROUTER_PORT
from swarm.test_services import SMALL, sh, web


def test_no_request_is_lost_inside_or_outside_through_releases(
    cluster, scheduler, router, new_app, make_manifest, web_image
):
    app = new_app()
    host = f"{app.name}.zero.test"
    worker = Process("worker", sh("exec sleep 3600"), 1, SMALL)
    state = {"version": 0, "web": 2}

    def release(config: str) -> Any:
        state["version"] += 1
        formation = {"web": web(state["web"]), "worker": worker}
        built = make_manifest(
            app, state["version"], formation, domains=(host,), config={"BUILD": config}
        )
        verdict = scheduler.submit(built)
        assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
        return built

    current = release("a")
    client = cluster.manager.client.containers.run(
        web_image,  # busybox: a client container on the overlay, as any app's
        ["sleep", "3600"],
        network=router.container.network,
        dns=[router.resolver()],
        detach=True,
    )
    inside = {"netns": netns_of(cluster.manager.api, client.id), "dns": "127.0.0.11"}
    outside = {"netns": str(NETNS_DIR / cluster.manager.netns)}
    name = app.name
    probes = Probes()
    probes.start("internal app fresh", f"http://{name}/", name, "fresh", **inside)
    probes.start("internal app keep-alive", f"http://{name}/", name, "keepalive", **inside)
    probes.start("internal web fresh", f"http://web.{name}/", f"web.{name}", "fresh", **inside)
    probes.start(
        "internal web keep-alive", f"http://web.{name}/", f"web.{name}", "keepalive", **inside
    )
    public = f"http://127.0.0.1:{ROUTER_PORT}/"
    probes.start("public fresh", public, host, "fresh", **outside)
    probes.start("public keep-alive", public, host, "keepalive", **outside)
    counts = {"deploys": 0, "rollbacks": 0, "scales": 0, "restarts": 0}
    try:
        for n in range(10):
            current = release(f"deploy-{n}")  # a new config: every task replaced
            counts["deploys"] += 1
            current = release("a" if n % 2 else "b")  # back to an earlier config
            counts["rollbacks"] += 1
            if n % 2 == 0:
                state["web"] = 3 if n % 4 == 0 else 2
                state["version"] -= 1  # a scale is no new release
                current = release("a" if n % 2 else "b")
                counts["scales"] += 1
            if n in (1, 5, 9):
                verdict = scheduler.restart(current)
                assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
                counts["restarts"] += 1
    finally:
        results = probes.finish()
        client.remove(force=True)
    print(json.dumps({"operations": counts, "probes": results}, indent=1))
    assert counts == {"deploys": 10, "rollbacks": 10, "scales": 5, "restarts": 3}
    for name, result in results.items():
        assert result.get("total", 0) > 100, (name, result)
        assert result["failed"] == 0, (name, result)
        assert len(result["bodies"]) >= 2, (name, result)
    assert results["internal app keep-alive"]["connections"] == 1
    assert results["public keep-alive"]["connections"] == 1
