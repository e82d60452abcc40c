"""PostgreSQL stops: the API answers 503 with a clear error, running apps keep serving, and
work resumes when the database returns.

Twice: a clean stop (fast shutdown) and a crash (immediate shutdown: no checkpoint, crash
recovery at start). While it is down, reads, writes and deploys must answer 503 `unavailable`
with a message that says the database is the problem, for longer than the token cache lasts;
the app must keep serving under a bounded load; and once it is back, a write must go through
and roll out, with nothing written before the outage lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from support.faults import FaultStack, Load, record
from support.services import PostgresCluster

APP, HOST = "steady", "steady.fx.test"
DOWN_FOR = 7.0  # longer than the token cache (5 s): authentication itself must fail cleanly


def test_the_database_goes_away_and_comes_back(
    make_stack: Callable[..., FaultStack], images: Any, fault_postgres: PostgresCluster
) -> None:
    url = fault_postgres.create_database(f"fx_{uuid.uuid4().hex[:8]}")
    stack = make_stack(database_url=url)
    assert stack.deploy(images.web, APP).verdict == f"Status: Release v1 of {APP} succeeded"
    assert stack.call("POST", f"/apps/{APP}/domains", json={"hostname": HOST}).status_code == 201
    assert stack.converge(APP, HOST) == []

    problems: list[str] = []
    written: dict[str, str] = {}
    for n, (fault, stop) in enumerate(
        (("PostgreSQL stopped", fault_postgres.stop), ("PostgreSQL crashed", fault_postgres.kill))
    ):
        found: list[str] = []
        load = Load(stack, HOST, accept=lambda body: body.startswith("v")).start()
        try:
            load.more(30)
            stop()
            down = time.monotonic()
            answers: list[tuple[str, int, dict[str, Any]]] = []
            while time.monotonic() - down < DOWN_FOR:
                for what, method, path, body in (
                    ("list apps", "GET", "/apps", None),
                    ("set config", "PATCH", f"/apps/{APP}/config-vars", {"LOST": "x"}),
                    ("deploy", "POST", f"/apps/{APP}/deploys", {"image": images.web}),
                ):
                    r = stack.call(method, path, json=body, timeout=30)
                    answers.append((what, r.status_code, r.json()))
                load.more(100)
            health = stack.call("GET", "/health")
            for what, status, body in answers:
                message = str(body.get("message", ""))
                if status != 503 or body.get("id") != "unavailable" or "database" not in message:
                    found.append(f"{what} answered {status} {body} while the database was down")
            if health.status_code != 503:
                found.append(f"/health answered {health.status_code} while the database was down")
            fault_postgres.start()
            try:
                took = stack.wait_for(
                    "answering again", lambda: stack.call("GET", "/apps").status_code == 200, 30
                )
            except AssertionError as e:
                took = -1.0
                found.append(str(e))
            key = f"AFTER_{n}"
            r = stack.call("PATCH", f"/apps/{APP}/config-vars", json={key: str(n)})
            if r.status_code != 200:
                found.append(f"the first write after the outage answered {r.status_code} {r.text}")
            else:
                written[key] = str(n)
            found += stack.converge(APP, HOST)
        finally:
            load.stop()
        config = stack.call("GET", f"/apps/{APP}/config-vars").json()
        lost = [k for k, v in written.items() if config.get(k) != v]
        if "LOST" in config:
            found.append("a write refused with 503 was applied anyway")
        if lost:
            found.append(f"config vars written before the outage are gone: {lost}")
        if load.failures:
            first = [(s, b[:60]) for _, s, b in load.failures[:3]]
            found.append(f"{len(load.failures)}/{len(load.results)} requests failed: {first}")
        record(
            fault,
            survived=not found,
            requests=len(load.results),
            failed=len(load.failures),
            lost=len(lost),
            note=f"{len(answers)} API calls answered 503 while it was down; the API answered "
            f"again {took:.1f}s after PostgreSQL did",
        )
        problems += [f"{fault}: {p}" for p in found]
    assert not problems, "\n".join(problems)
