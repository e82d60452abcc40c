"""50 concurrent deploys, config changes and scales to one app, each from its own client.

All are released at once (a barrier) while a bounded load runs on the app. Afterwards:
no 5xx (every write answers 200), versions contiguous (one per deploy and config change, no gap,
no duplicate), nothing lost (every config var written is in the final config), the final
state is the last accepted write (the newest release is current and carries the newest deploy's
image; the formation is one that was asked for) and the engine runs exactly that state.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from support.faults import FaultStack, Load, record
from support.services import PostgresCluster

APP, HOST = "crowded", "crowded.fx.test"
DEPLOYS, CONFIGS, SCALES = 15, 20, 15


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_fifty_concurrent_writes_to_one_app(
    database: str,
    make_stack: Callable[..., FaultStack],
    images: Any,
    fault_postgres: PostgresCluster,
) -> None:
    url = None
    if database == "postgres":
        url = fault_postgres.create_database(f"fx_{uuid.uuid4().hex[:8]}")
    # Every client here uses the one token: let it hold more deploy streams than the 10 a
    # token may have open by default (EMPIRE_STREAMS_PER_TOKEN), or 429s are the answer.
    stack = make_stack(database_url=url, env={"EMPIRE_STREAMS_PER_TOKEN": "0"})
    assert stack.deploy(images.web, APP).verdict == f"Status: Release v1 of {APP} succeeded"
    assert stack.call("POST", f"/apps/{APP}/domains", json={"hostname": HOST}).status_code == 201
    assert stack.converge(APP, HOST) == []

    ops: list[tuple[str, Any]] = (
        [("deploy", images.web2 if i % 2 else images.web) for i in range(DEPLOYS)]
        + [("config", f"K{i}") for i in range(CONFIGS)]
        + [("scale", 1 + i % 2) for i in range(SCALES)]
    )
    random.Random(7).shuffle(ops)
    results: list[tuple[str, Any, int, str]] = [("", None, 0, "not run")] * len(ops)
    barrier = threading.Barrier(len(ops))

    def client(n: int) -> None:
        kind, arg = ops[n]
        try:
            barrier.wait(timeout=60)
            if kind == "deploy":
                said = stack.deploy(arg, APP)
                results[n] = (kind, arg, said.status, said.verdict if said.messages else said.error)
            elif kind == "config":
                r = stack.call("PATCH", f"/apps/{APP}/config-vars", json={arg: arg}, timeout=180)
                results[n] = (kind, arg, r.status_code, r.text[:200])
            else:
                body = {"updates": [{"type": "web", "quantity": arg}]}
                r = stack.call("PATCH", f"/apps/{APP}/formation", json=body, timeout=180)
                results[n] = (kind, arg, r.status_code, r.text[:200])
        except Exception as e:  # a client that could not even talk: a failure, not a crash
            results[n] = (kind, arg, 0, f"{type(e).__name__}: {e}")

    started = time.monotonic()
    with Load(stack, HOST, accept=lambda body: body.startswith("v"), max_seconds=240) as load:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(len(ops))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        took = time.monotonic() - started
        quantity = {p["type"]: p["quantity"] for p in stack.call("GET", f"/apps/{APP}/formation")
                    .json()}["web"]  # fmt: skip
        problems = stack.converge(APP, HOST, quantity=quantity, timeout=60)

    errors = [r for r in results if r[2] != 200]
    problems += [f"{kind} {arg} answered {status}: {text}" for kind, arg, status, text in errors]
    for kind, arg, _, text in results:
        if kind == "deploy" and not (text.endswith("succeeded") or "superseded by v" in text):
            problems.append(f"deploy of {arg} ended with {text!r}")
    releases = sorted(stack.releases(APP), key=lambda r: r["version"])
    versions = [r["version"] for r in releases]
    expected = list(range(1, 2 + DEPLOYS + CONFIGS))
    if versions != expected:
        problems.append(f"versions are {versions}, not 1..{expected[-1]}")
    newest = releases[-1]
    if not newest["current"] or newest["outcome"] != "succeeded":
        problems.append(f"the newest release v{newest['version']} is {newest['outcome']}")
    last_deploy = next(r for r in reversed(releases) if r["description"].startswith("Deploy"))
    if newest["image"] != last_deploy["image"]:
        problems.append(f"v{newest['version']} runs {newest['image']}, not the newest deploy's")
    config = stack.call("GET", f"/apps/{APP}/config-vars").json()
    lost = [f"K{i}" for i in range(CONFIGS) if config.get(f"K{i}") != f"K{i}"]
    if lost:
        problems.append(f"config vars lost: {lost}")
    if quantity not in (1, 2):
        problems.append(f"web runs {quantity} instances, which nobody asked for")
    if load.failures:
        first = [(s, b[:60]) for _, s, b in load.failures[:3]]
        problems.append(f"{len(load.failures)}/{len(load.results)} requests failed: {first}")
    missing = len(expected) - len(set(versions) & set(expected))
    record(
        f"50 concurrent writes to one app ({'PostgreSQL' if url else 'SQLite'})",
        survived=not problems,
        requests=len(load.results),
        failed=len(load.failures),
        lost=len(lost) + missing,
        note=f"{len(ops)} writes answered in {took:.0f}s; "
        f"{len(errors)} not 200; {sum(1 for r in releases if 'superseded' in r['outcome_reason'])}"
        " releases superseded before their rollout",
    )
    assert not problems, "\n".join(problems)
