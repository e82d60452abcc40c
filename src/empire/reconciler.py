"""The reconciler: converge the scheduler and the router to the store, now and every N seconds,
and soon after the backend reports that an app changed behind Empire's back.

It heals what a crash, a restart of Empire or of the engine, or a lost rollout left behind:
`Empire.reconcile` resubmits each app's newest state (cheap when nothing changed: the backend
reads what it runs for every app once per round) and prunes apps that no longer exist. The
backend's news (`Scheduler.subscribe`: an instance died, turned unhealthy, was removed) makes
the apps it names converge within `debounce` seconds (`Empire.reconcile_apps`), several
reports of one app once; the periodic round stays the safety net for news that never came.
The router supervises itself (`Router.start`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from empire.core import Empire
from empire.errors import EmpireError

log = logging.getLogger("empire.reconciler")

DEBOUNCE = 0.5  # seconds the news of an app waits for more news before it converges


class Reconciler:
    """Runs `run_once` in a daemon thread every `interval` seconds until `stop`, and
    `run_apps` for the apps the backend reports changed in between."""

    def __init__(self, empire: Empire, interval: float, *, debounce: float = DEBOUNCE) -> None:
        self.empire = empire
        self.interval = interval
        self.debounce = debounce
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """Converge once; failures are logged and retried on the next round."""
        try:
            self.empire.reconcile()
        except EmpireError as exc:
            log.warning("reconcile: %s", exc)
        except Exception:
            log.exception("reconcile failed")

    def run_apps(self, app_ids: set[str]) -> None:
        """Converge these apps now; failures are logged (the next round retries them)."""
        try:
            self.empire.reconcile_apps(app_ids)
        except EmpireError as exc:
            log.warning("reconcile %d app(s): %s", len(app_ids), exc)
        except Exception:
            log.exception("reconcile of %d app(s) failed", len(app_ids))

    def changed(self, app_id: str) -> None:
        """The backend's news: the app converges within `debounce` s (called on any thread)."""
        with self._pending_lock:
            self._pending.add(app_id)
        self._wake.set()

    def start(self, *, now: bool = False) -> None:
        """Start the background loop; with `now`, its first round runs at once.

        `empire server` starts it with `now` instead of running a round before it listens: a
        round may take a whole health timeout per app (say Empire was killed mid-rollout of a
        release that never becomes healthy) and the API must answer meanwhile (the fault tests
        found the API down for as long after a kill -9).
        """
        self._unsubscribe = self.empire.scheduler.subscribe(self.changed)
        self._thread = threading.Thread(
            target=self._loop, args=(now,), name="reconciler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for the current round to end."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self, now: bool = False) -> None:
        if now:
            self.run_once()
        next_round = time.monotonic() + self.interval
        while not self._stopping.is_set():
            left = next_round - time.monotonic()
            if left <= 0:
                self._take()  # the round converges them all
                self.run_once()
                next_round = time.monotonic() + self.interval
                continue
            if not self._wake.wait(left) or self._stopping.is_set():
                continue
            if self._stopping.wait(self.debounce):  # more news of the same apps comes with it
                break
            apps = self._take()
            if apps:
                self.run_apps(apps)

    def _take(self) -> set[str]:
        with self._pending_lock:
            self._wake.clear()
            apps, self._pending = self._pending, set()
        return apps
