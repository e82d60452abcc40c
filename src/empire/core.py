"""The Empire facade: one method per use case.

Ordering rule: every write commits to the store first, then submits to the scheduler, then
records the rollout's outcome on the release. The database therefore always holds what was
asked for, and `reconcile()` can converge the scheduler to it at any time.
"""

from __future__ import annotations

from empire.usecases.apps import Apps
from empire.usecases.base import Clock, StatusFn, hash_token, utcnow
from empire.usecases.domains import Domains
from empire.usecases.processes import Processes
from empire.usecases.releases import Releases
from empire.usecases.users import Users

__all__ = ["Clock", "Empire", "StatusFn", "hash_token", "utcnow"]


class Empire(Users, Apps, Releases, Processes, Domains):
    """The platform's use cases. Callers pass names; the facade loads inside a transaction."""

    # -- operations ---------------------------------------------------------------------------

    def check(self) -> None:
        """Raise Unavailable unless the store is reachable at the expected schema."""
        self.store.check()

    def reconcile(self) -> int:
        """Converge the scheduler to the store: resubmit every app, prune the rest.

        Returns how many apps were submitted. Safe at any time: each submit reads the app's
        newest state under its lock, and backends make unchanged submits cheap.
        """
        with self.store.read() as tx:
            pairs = [(tx.app(r.app_id), r) for r in tx.current_releases()]
        count = 0
        for app, release in pairs:
            if app is not None:
                self._submit(app, release, record=False)
                count += 1
        self.scheduler.prune({app.id for app, _ in pairs if app is not None})
        self._discard_unused_images()
        return count

    def _discard_unused_images(self) -> None:
        """Remove the local copies of images no live app's release can roll back to."""
        with self.store.read() as tx:
            unused = [image for image in tx.unused_images() if image not in self._discarded]
        for image in unused:
            self.images.discard(image)
            self._discarded.add(image)
