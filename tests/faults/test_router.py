"""Break the router: the routes come back from the resolver's records and the database.

Two apps: a public one with two hostnames and an internal one (no domain), under a bounded
load. The router container is crashed (its processes SIGKILLed from the host: the engine
starts it again) and removed (Empire's supervision makes it again), each while Empire runs
and while Empire is down. Every hostname must serve again, and the internal app must stay
unreachable from the public side.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from support.faults import FaultStack, Load, record

PUBLIC, HOSTS = "shown", ("shown.fx.test", "www.shown.fx.test")
INTERNAL = "hidden"


def _serving(stack: FaultStack) -> list[str]:
    """Hostnames that do not serve their app (and the internal app, when it is reachable)."""
    wrong = [h for h in HOSTS if not stack.get(h)[1].startswith("v1-")]
    for host in (f"{INTERNAL}.fx.test", INTERNAL):
        if stack.get(host)[0] != 404:
            wrong.append(f"{host} (internal) is routed")
    return wrong


def _crash(stack: FaultStack) -> None:
    pid = stack.client.api.inspect_container(stack.router_container)["State"]["Pid"]
    os.kill(int(pid), signal.SIGKILL)


def _remove(stack: FaultStack) -> None:
    stack.client.api.remove_container(stack.router_container, force=True)


def test_a_crashed_or_removed_router_gets_every_route_back(
    make_stack: Callable[..., FaultStack], images: Any
) -> None:
    stack = make_stack()
    for app in (PUBLIC, INTERNAL):
        assert stack.deploy(images.web, app).verdict == f"Status: Release v1 of {app} succeeded"
    for host in HOSTS:
        added = stack.call("POST", f"/apps/{PUBLIC}/domains", json={"hostname": host})
        assert added.status_code == 201, added.text
    assert stack.converge(PUBLIC, HOSTS[0]) == []
    assert _serving(stack) == []

    problems: list[str] = []
    for fault, breaks, empire_down in (
        ("router crashed", _crash, False),
        ("router crashed, Empire down", _crash, True),
        ("router removed", _remove, False),
        ("router removed, Empire down", _remove, True),
    ):
        load = Load(stack, HOSTS[0], accept=lambda body: body.startswith("v1-")).start()
        try:
            load.more(30)
            if empire_down:
                stack.server.stop()
            breaks(stack)
            broken = time.monotonic()
            if empire_down and breaks is _remove:
                stack.in_ns(stack.server.start)  # nothing else makes a removed router again
            stack.wait_for("serving again", lambda: _serving(stack) == [], timeout=30)
            took = time.monotonic() - broken
            if empire_down and breaks is _crash:
                stack.in_ns(stack.server.start)
            load.more(50)
        except AssertionError as e:
            took = -1.0
            problems.append(f"{fault}: {e}")
        finally:
            load.stop()
        wrong = _serving(stack)
        found = [f"{fault}: not rebuilt: {w}" for w in wrong]
        found += [f"{fault}: {p}" for p in stack.problems(PUBLIC, HOSTS[0])]
        record(
            fault,
            survived=not found and took >= 0,
            requests=len(load.results),
            failed=len(load.failures),
            lost=len([w for w in wrong if "internal" not in w]),
            note=f"every route back {took:.1f}s after it; traffic stopped for {load.outage():.1f}s",
        )
        problems += found
    assert not problems, "\n".join(problems)
