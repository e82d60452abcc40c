"""Kill an app's containers behind Empire's back: they are replaced and traffic keeps flowing.

The app runs two web instances behind the router, under a bounded load. One instance at a time
is killed (SIGKILL: the restart policy brings it back, maybe on another port) or removed (the
reconciler starts a new one); then every instance at once. After each, the app converges again:
two running, armed instances of the current release and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.faults import FaultStack, Load, record

APP, HOST = "victim", "victim.fx.test"


def _web(stack: FaultStack, app_id: str) -> list[Any]:
    return sorted(
        (c for c in stack.containers(app_id) if c.status == "running"),
        key=lambda c: c.labels["empire.index"],
    )


def _trial(
    stack: FaultStack, app_id: str, fault: str, hit: Callable[[list[Any]], None], *, gap: float
) -> list[str]:
    """Break the app's containers with `hit` under load; wait until it has healed."""
    load = Load(stack, HOST, accept=lambda body: body.startswith("v1-")).start()
    try:
        load.more(50)
        hit(_web(stack, app_id))
        load.more(100)  # let the damage be seen before asking whether it healed
        problems = stack.converge(APP, HOST, quantity=2, timeout=30)
        load.more(100)  # and some traffic on the healed app
    finally:
        load.stop()
    failed = len(load.failures)
    if load.outage() > gap:
        first = [(s, b[:60]) for _, s, b in load.failures[:3]]
        problems.append(
            f"traffic stopped for {load.outage():.1f}s (at most {gap:g}s allowed); "
            f"{failed}/{len(load.results)} requests failed: {first}"
        )
    if not load.results or load.results[-1][1] != 200:
        problems.append(f"traffic did not come back: the last answers were {load.results[-3:]}")
    releases = stack.releases(APP)
    lost = 0 if [r["version"] for r in releases] == [1] else 1
    record(fault, survived=not problems, requests=len(load.results), failed=failed, lost=lost)
    return [f"{fault}: {p}" for p in problems]


def kill(which: list[Any]) -> None:
    for c in which:
        c.kill()  # SIGKILL, as the OOM killer or a crash would


def remove(which: list[Any]) -> None:
    for c in which:
        c.remove(force=True)


def one(action: Callable[[list[Any]], None], index: int) -> Callable[[list[Any]], None]:
    """`action` on the instance at `index` only."""
    return lambda which: action(which[index : index + 1])


def test_killed_and_removed_containers_are_replaced_under_load(
    make_stack: Callable[..., FaultStack], images: Any
) -> None:
    stack = make_stack()
    assert stack.deploy(images.web, APP).verdict == f"Status: Release v1 of {APP} succeeded"
    app_id = stack.call("GET", f"/apps/{APP}").json()["id"]
    scaled = stack.call("PATCH", f"/apps/{APP}/formation", json={"updates": [
        {"type": "web", "quantity": 2}
    ]})  # fmt: skip
    assert scaled.status_code == 200, scaled.text
    assert stack.call("POST", f"/apps/{APP}/domains", json={"hostname": HOST}).status_code == 201
    assert stack.converge(APP, HOST, quantity=2) == []

    problems = []
    # One instance of two, three times each (either index): the other one serves meanwhile.
    # Traffic never stops: at most a request caught by Caddy swapping its config just then
    # (the table counts them).
    for n in range(3):
        problems += _trial(stack, app_id, "container killed (1 of 2)", one(kill, n % 2), gap=0.5)
        problems += _trial(stack, app_id, "container removed (1 of 2)", one(remove, n % 2), gap=0.5)
    # Every instance at once: a gap is unavoidable (a restart, or a new container started,
    # checked and routed by the reconciler); the app must come back by itself, quickly.
    problems += _trial(stack, app_id, "containers killed (2 of 2)", kill, gap=5)
    problems += _trial(stack, app_id, "containers removed (2 of 2)", remove, gap=5)
    assert not problems, "\n".join(problems)
