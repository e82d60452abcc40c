"""The reconciler acts on the backend's news: the apps it names converge soon, once each, and
the others wait for the round."""

from __future__ import annotations

import threading
from collections import Counter

from empire.reconciler import Reconciler
from empire.scheduler import Manifest, StatusFn, Verdict
from support.stack import Stack
from support.waiting import wait_for


def test_news_of_an_app_converges_it_once_and_only_it(stack: Stack) -> None:
    for name in ("acme-one", "acme-two"):
        stack.empire.deploy(f"acme/{name}:v1", by=stack.user)
    one = stack.empire.app("acme-one", by=stack.user)
    submits: Counter[str] = Counter()
    seen = threading.Event()
    submit = stack.scheduler.submit

    def counting(manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        submits[manifest.app_name] += 1
        seen.set()
        return submit(manifest, status)

    stack.scheduler.submit = counting  # type: ignore[method-assign]
    reconciler = Reconciler(stack.empire, interval=3600, debounce=0.2)
    reconciler.start()
    try:
        for _ in range(3):  # a die, a destroy, a second die: one convergence
            stack.scheduler.notify(one.id)
        wait_for(seen.is_set, timeout=10, what="the app's convergence")
    finally:
        reconciler.stop()
    assert submits == Counter({"acme-one": 1})


def test_news_stops_with_the_reconciler(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-one:v1", by=stack.user)
    one = stack.empire.app("acme-one", by=stack.user)
    reconciler = Reconciler(stack.empire, interval=3600, debounce=0.0)
    reconciler.start()
    reconciler.stop()
    stack.scheduler.notify(one.id)  # nobody listens any more: nothing runs, nothing raises
    assert not reconciler._pending
