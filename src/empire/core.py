"""The Empire facade: one method per use case.

Ordering rule: every write commits to the store first, then submits to the scheduler, then
records the rollout's outcome on the release. The database therefore always holds what was
asked for, and `reconcile()` can converge the scheduler to it at any time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import ParamSpec, TypeVar

from empire.model import App, Clock, Outcome, Release, utcnow
from empire.scheduler import Verdict
from empire.usecases.access import Access
from empire.usecases.apps import AppChanges, Apps
from empire.usecases.audit import Audit
from empire.usecases.base import STORE_READS, hash_token, phase_failure
from empire.usecases.builds import Builds
from empire.usecases.dashboard import Dashboard
from empire.usecases.domains import Domains
from empire.usecases.drains import Drains
from empire.usecases.metrics import Observe
from empire.usecases.processes import Processes, process_id
from empire.usecases.releases import Releases
from empire.usecases.users import Users, is_session

__all__ = [
    "STORE_READS",
    "AppChanges",
    "Clock",
    "Empire",
    "hash_token",
    "is_session",
    "process_id",
    "utcnow",
]
P = ParamSpec("P")
T = TypeVar("T")

RECONCILE_PAGE = 100  # apps read and submitted per query in a reconcile round


class Empire(
    Users, Apps, Builds, Releases, Processes, Domains, Drains, Audit, Observe, Dashboard, Access
):
    """The platform's use cases. Callers pass names; the facade loads inside a transaction."""

    async def read(self, use_case: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a use case marked `@store_reads` on the calling event loop: its database round
        trips are awaited there (`Store.run_reads`) instead of blocking a worker thread, which
        saves the thread hop. Any other use case is refused: it may block the loop."""
        if not getattr(use_case, STORE_READS, False):
            name = getattr(use_case, "__qualname__", repr(use_case))
            raise TypeError(f"{name} is not a @store_reads use case: run it in a worker thread")
        return await self.store.run_reads(use_case, *args, **kwargs)

    # -- operations ---------------------------------------------------------------------------

    def check(self) -> None:
        """Raise Unavailable unless the store is reachable at the expected schema."""
        self.store.check()

    def health(self) -> dict[str, object]:
        """What `/health` says: the store is reachable (else Unavailable), and how the
        backend's own parts are (the router, on the Docker and Swarm backends)."""
        self.check()
        return {"status": "ok", **self.scheduler.status()}

    def reconcile(self) -> int:
        """Converge the scheduler to the store: resubmit every app, prune the rest.

        Returns how many apps were submitted. The state is read a page of apps at a time (the
        whole state at once was a peak of several MB every round, which the process kept as
        resident memory); an app that a use case submitted since its page was read is skipped
        (it is already newer). A release still pending (Empire stopped mid-rollout) gets its
        verdict recorded. What is pruned is what no page had and no use case submitted during
        the round. Backends make an unchanged submit cheap, so this runs every few seconds:
        the round runs in the scheduler's `sweep`, where a backend reads what it runs for
        every app once instead of once per app.
        """
        started = time.monotonic()
        seen: set[str] = set()
        after = ""
        with self.scheduler.sweep():
            while True:
                read_at = time.monotonic()
                with self.store.read() as tx:
                    states = tx.current_states(after=after, limit=RECONCILE_PAGE)
                if not states:
                    break
                for app, release, domains in states:
                    seen.add(app.id)
                    self._reconcile_one(app, release, domains, read_at)
                after = states[-1][0].name
            recent = {app_id for app_id, at in list(self._submitted_at.items()) if at > started}
            self.scheduler.prune(seen | recent)
        self._discard_unused_images()
        return len(seen)

    def reconcile_apps(self, app_ids: Collection[str]) -> int:
        """Converge these apps only (the ones the backend said changed behind Empire's back:
        `Scheduler.subscribe`); apps gone from the store are left to the next round's prune.
        Returns how many were submitted."""
        if not app_ids:
            return 0
        read_at = time.monotonic()
        with self.store.read() as tx:
            states = tx.current_states(ids=sorted(app_ids))
        for app, release, domains in states:
            self._reconcile_one(app, release, domains, read_at)
        return len(states)

    def _reconcile_one(
        self, app: App, release: Release, domains: tuple[str, ...], read_at: float
    ) -> None:
        """Resubmit one app's state read at `read_at`, unless a use case holds it or
        submitted it since."""
        lock = self._lock_for(app.id)
        if not lock.acquire(blocking=False):
            return  # a use case is rolling it out (or running its release phase)
        try:
            if self._submitted_at.get(app.id, 0.0) > read_at:
                return
            unfinished = phase_failure(release)
            if release.outcome is Outcome.PENDING and unfinished is not None:
                # Its release phase failed, or Empire stopped during it: nothing of the
                # release ever starts.
                self._record(release, Verdict(Outcome.FAILED, unfinished))
                return
            verdict = self._roll_out(app, release, domains)
        finally:
            lock.release()
        if release.outcome is Outcome.PENDING:
            self._record(release, verdict)

    def _discard_unused_images(self) -> None:
        """Remove the local copies of images no live app's release can roll back to."""
        with self.store.read() as tx:
            unused = [image for image in tx.unused_images() if image not in self._discarded]
        for image in unused:
            self.images.discard(image)
            self._discarded.add(image)
