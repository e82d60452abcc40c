"""Failpoints: named moments of a deploy at which a fault test can freeze Empire and kill it.

`EMPIRE_FAILPOINTS=mid-rollout` (read by `Settings.from_env`, handed in by the wiring) makes
`hit("mid-rollout")` write `failpoint-mid-rollout` into the data directory and then sleep, so
that a test waiting for that file can `kill -9` the server at exactly that point. With the
setting unset (always, outside the fault tests) `hit` returns at once and does nothing else.

The points, in the order a deploy passes them:

- `before-commit`: inside the deploy's write transaction, the release inserted, not committed;
- `after-commit`: the write committed, nothing submitted to the scheduler yet;
- `mid-rollout`: (Docker) the new containers started, not yet healthy nor routed;
- `draining`: (Docker) traffic switched to the new containers, the old ones not yet stopped.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

POINTS = ("before-commit", "after-commit", "mid-rollout", "draining")
PAUSE_SECONDS = 600.0  # long enough for any test to kill us; then carry on as if nothing was

log = logging.getLogger("empire.failpoints")


class Failpoints:
    """The armed failpoints of this process; `Failpoints()` is the inert default."""

    def __init__(
        self,
        names: Iterable[str] = (),
        marker_dir: Path | None = None,
        pause: float = PAUSE_SECONDS,
    ) -> None:
        self.names = frozenset(names)
        self.marker_dir = marker_dir
        self.pause = pause

    def hit(self, name: str) -> None:
        """Pause here when `name` is armed; otherwise do nothing."""
        if name not in self.names:
            return
        log.warning("failpoint %s: pausing for %gs (pid %d)", name, self.pause, os.getpid())
        if self.marker_dir is not None:
            self.marker_dir.mkdir(parents=True, exist_ok=True)
            (self.marker_dir / f"failpoint-{name}").write_text(f"{os.getpid()}\n")
        time.sleep(self.pause)


OFF = Failpoints()
