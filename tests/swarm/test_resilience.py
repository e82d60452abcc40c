"""A public app through the router on the two-node swarm: deploys, rollbacks, a drained node and
a killed engine, under a bounded load from inside the manager's namespace.

The load loop (`load.py`) sends one request per new connection, about 100 per second, through
Caddy (a container on the overlay network, published on the manager's loopback).
"""

from __future__ import annotations

from typing import Any

from empire.model import Outcome
from support.waiting import wait_for
from swarm.conftest import get
from swarm.test_services import web

# Requests the load makes after the last change before it stops (about a second's worth): a
# route or a task that goes bad just after the change would fail some of them.
AFTER = 100


def hosts(scheduler: Any, app_id: str) -> list[str]:
    return sorted(t.host for t in scheduler.tasks(app_id) if t.state == "up")


def set_availability(cluster: Any, node_id: str, availability: str) -> None:
    api = cluster.manager.api
    node = api.inspect_node(node_id)
    spec = {**node["Spec"], "Availability": availability}
    api.update_node(node_id, node["Version"]["Index"], spec)


def test_deploys_and_rollbacks_under_load_fail_no_request(
    cluster, scheduler, new_app, make_manifest, load
):
    app = new_app()
    host = f"{app.name}.example.test"

    def release(version: int, **options: Any) -> Any:
        return make_manifest(app, version, {"web": web(2, **options)}, domains=(host,))

    assert scheduler.submit(release(1)).outcome is Outcome.SUCCEEDED
    wait_for(lambda: get(cluster, host) == (200, "v1"), 10, "v1 through the router")
    running = load(host)

    deployed = scheduler.submit(release(2))  # a new release
    rolled = scheduler.submit(release(3))  # `emp rollback v1`: a new release, v1's config
    broken = scheduler.submit(release(4, command=("sh", "-c", "exec sleep 3600")))  # unhealthy
    summary = running.result(more=AFTER)
    print(f"\ndeploy, rollback, swarm rollback under load: {summary}")

    assert deployed.outcome is Outcome.SUCCEEDED, deployed.reason
    assert rolled.outcome is Outcome.SUCCEEDED, rolled.reason
    assert broken.outcome is Outcome.ROLLED_BACK
    assert "Swarm rolled the update back" in broken.reason
    assert summary["failed"] == 0, summary
    assert summary["stopped"] == "asked", summary  # the load ran through every deploy
    assert set(summary["bodies"]) == {"v1", "v2", "v3"}, summary  # v4 never served
    assert get(cluster, host) == (200, "v3")
    assert get(cluster, "nothing.example.test")[0] == 404


def test_a_drained_node_and_a_killed_engine_leave_the_app_serving(
    cluster, scheduler, new_app, make_manifest, load
):
    app = new_app()
    host = f"{app.name}.example.test"
    manifest = make_manifest(app, 1, {"web": web(4)}, domains=(host,))
    assert scheduler.submit(manifest).outcome is Outcome.SUCCEEDED
    manager, worker = cluster.host(cluster.manager), cluster.host(cluster.worker)
    assert set(hosts(scheduler, app.id)) == {manager, worker}
    wait_for(lambda: get(cluster, host) == (200, "v1"), 10, "v1 through the router")
    worker_id = cluster.worker.node_id

    # Drain the worker: its tasks move to the manager, and no request fails.
    running = load(host)
    set_availability(cluster, worker_id, "drain")
    try:
        wait_for(lambda: hosts(scheduler, app.id) == [manager] * 4, 60, "all tasks on A")
        summary = running.result(more=2 * AFTER)
        print(f"\ndrain under load: {summary}")
    finally:
        set_availability(cluster, worker_id, "active")
    assert summary["failed"] == 0, summary
    assert summary["stopped"] == "asked", summary
    assert summary["bodies"] == {"v1": summary["total"]}

    # Spread again (a forced rolling update puts two tasks back on the worker).
    assert scheduler.restart(manifest).outcome is Outcome.SUCCEEDED
    wait_for(lambda: worker in hosts(scheduler, app.id), 60, "tasks back on the worker")

    # Kill the worker's engine: the manager marks the node down and runs its tasks itself.
    during = load(host)
    cluster.worker.kill_engine()
    try:
        wait_for(
            lambda: cluster.manager.api.inspect_node(worker_id)["Status"]["State"] == "down",
            60,
            "the worker to be seen down",
        )
        wait_for(lambda: hosts(scheduler, app.id) == [manager] * 4, 60, "4 tasks on A")
        summary = during.result(more=2 * AFTER)
        print(f"\nthe worker's engine killed, its tasks rescheduled: {summary}")
        # When the manager declares the node lost, it drops the routes to its tasks: the router
        # may still try one of them for up to a second (its DNS refresh), and a connection
        # there times out (500 ms) before another task answers. The app keeps serving.
        assert summary["failed"] <= summary["total"] // 100, summary
        assert summary["stopped"] == "asked", summary
        assert get(cluster, host) == (200, "v1")
    finally:
        cluster.restart_worker()
    wait_for(
        lambda: cluster.manager.api.inspect_node(worker_id)["Status"]["State"] == "ready",
        60,
        "the worker back",
    )
