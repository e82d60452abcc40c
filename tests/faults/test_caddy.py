"""Restart Caddy empty: the routes are rebuilt from the database.

Two apps: a public one with two hostnames and an internal one (no domain), under a bounded
load. Caddy is killed and a new, empty one starts on the same addresses, first while Empire
runs (its reconciler notices and pushes the table again), then while Empire is down too (the
new Empire process has nothing in memory: the routes come from the database and the engine).
Every hostname must serve again, and the internal app must stay unreachable.
"""

from __future__ import annotations

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


def test_an_empty_caddy_gets_every_route_back(
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
    for fault, empire_down in (
        ("Caddy restarted empty", False),
        ("Caddy and Empire restarted", True),
    ):
        load = Load(stack, HOSTS[0], accept=lambda body: body.startswith("v1-")).start()
        try:
            time.sleep(0.3)
            if empire_down:
                stack.server.stop()
            stack.caddy.daemon.kill()  # SIGKILL: the table Caddy held is gone
            killed = time.monotonic()
            stack.in_ns(stack.caddy.start)  # a new Caddy with nothing but its admin API
            if empire_down:
                stack.in_ns(stack.server.start)
            stack.wait_for("serving again", lambda: _serving(stack) == [], timeout=20)
            took = time.monotonic() - killed
            time.sleep(0.5)
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
            note=f"every route back {took:.1f}s after the kill; "
            f"traffic stopped for {load.outage():.1f}s",
        )
        problems += found
    assert not problems, "\n".join(problems)
