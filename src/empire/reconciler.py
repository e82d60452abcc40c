"""The reconciler: converge the scheduler and the router to the store, now and every N seconds.

It heals what a crash, a restart of Empire or of the engine, or a lost rollout left behind:
`Empire.reconcile` resubmits each app's newest state (cheap when nothing changed) and prunes
apps that no longer exist. The router supervises itself (`Router.start`).
"""

from __future__ import annotations

import logging
import threading

from empire.core import Empire
from empire.errors import EmpireError

log = logging.getLogger("empire.reconciler")


class Reconciler:
    """Runs `run_once` in a daemon thread every `interval` seconds until `stop`."""

    def __init__(self, empire: Empire, interval: float) -> None:
        self.empire = empire
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        """Converge once; failures are logged and retried on the next round."""
        try:
            self.empire.reconcile()
        except EmpireError as exc:
            log.warning("reconcile: %s", exc)
        except Exception:
            log.exception("reconcile failed")

    def start(self, *, now: bool = False) -> None:
        """Start the background loop; with `now`, its first round runs at once.

        `empire server` starts it with `now` instead of running a round before it listens: a
        round may take a whole health timeout per app (say Empire was killed mid-rollout of a
        release that never becomes healthy) and the API must answer meanwhile (the fault tests
        found the API down for as long after a kill -9).
        """
        self._thread = threading.Thread(
            target=self._loop, args=(now,), name="reconciler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for the current round to end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self, now: bool = False) -> None:
        if now:
            self.run_once()
        while not self._stopping.wait(self.interval):
            self.run_once()
