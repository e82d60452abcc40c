"""A reconcile round on ECS (moto): the services of every app are described together, ten a
call, and a service changed behind Empire's back is still converged back in the round."""

from __future__ import annotations

from ecs.ecs_support import AppState, Infra
from empire.model import Outcome

IMAGE = "acme/acme@sha256:" + "1" * 64
WORKER = b"worker:\n  command: ./bin/worker\n"


def test_a_round_describes_every_app_ten_services_a_call_and_heals_a_change(
    infra: Infra,
) -> None:
    scheduler = infra.scheduler()
    states = [AppState.new(f"app{n:02d}", f"app-{n:02d}", IMAGE, WORKER) for n in range(12)]
    for state in states:
        assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED

    infra.calls.clear()
    with scheduler.sweep():
        for state in states:
            assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    described = infra.sent("DescribeServices")
    assert [len(p["services"]) for p in described] == [10, 2]
    assert [name for name, _ in infra.calls] == ["DescribeServices"] * 2

    # Someone scales a service down behind Empire's back: the round puts it back.
    ecs = infra.clients.ecs
    ecs.update_service(cluster=infra.config.cluster, service="app03_worker", desiredCount=0)
    infra.calls.clear()
    with scheduler.sweep():
        for state in states:
            assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    assert [p.get("desiredCount") for p in infra.sent("UpdateService")] == [1]
    assert infra.services()["app03_worker"]["desiredCount"] == 1
