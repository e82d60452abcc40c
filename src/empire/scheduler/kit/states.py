"""Process state lines in each app's log, as Heroku writes them, on the engine backends.

    acme[web.1]: Starting process with command `./bin/web`
    acme[web.1]: State changed from starting to up
    acme[web.1]: Process exited with status 137
    acme[web.1]: State changed from up to crashed

The rollout says when an instance starts and when it became healthy (`starting`, `up`). The
engine's events (`kit.events`) say when one ended: a container Empire stopped or removed
(`containers.stopped_by_empire`) went `down`; a service that ended by itself (or by anyone
else's hand) `crashed`; a one-off run is `complete`; a crashed service the engine starts again
goes back to `starting`. Release phases have their own lines (`release.N`: their output).
"""

from __future__ import annotations

import collections
import threading
from datetime import datetime

from empire.applog import AppLog, LogLine
from empire.model import Clock, utcnow
from empire.scheduler import Manifest, labels
from empire.scheduler.kit import containers
from empire.scheduler.kit.events import EngineEvent

_REMEMBERED = 10_000  # containers whose last state is kept (to say `crashed to starting`)


class ProcessStates:
    """Writes the state lines of an app's processes into the app log (None: nowhere)."""

    def __init__(self, applog: AppLog | None, clock: Clock = utcnow) -> None:
        self.applog = applog
        self.clock = clock
        self._crashed: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def starting(self, manifest: Manifest, process: str, index: int, command: str) -> None:
        """A new instance was started."""
        self._write(
            manifest.app_id,
            manifest.app_name,
            f"{process}.{index}",
            self.clock(),
            f"Starting process with command `{command}`",
        )

    def up(self, manifest: Manifest, process: str, index: int) -> None:
        """A new instance passed its health check: it gets traffic now."""
        self._write(
            manifest.app_id,
            manifest.app_name,
            f"{process}.{index}",
            self.clock(),
            "State changed from starting to up",
        )

    def on_event(self, event: EngineEvent) -> None:
        """An engine event of one of Empire's containers (called on the events' thread)."""
        if event.kind not in (labels.SERVICE, labels.RUN) or not event.task:
            return
        slot = event.task.split(".", 1)[1]  # v3.web.1 -> web.1
        if event.action == "die":
            self._ended(event, slot)
        elif event.action == "start" and self._was_crashed(event.container_id):
            self._write(
                event.app_id, event.app, slot, event.at, "State changed from crashed to starting"
            )

    def _ended(self, event: EngineEvent, slot: str) -> None:
        if event.exit_code is not None:
            self._write(
                event.app_id,
                event.app,
                slot,
                event.at,
                f"Process exited with status {event.exit_code}",
            )
        if event.kind == labels.RUN:
            after = "complete"
        elif containers.stopped_by_empire(event.container_id):
            after = "down"
        else:
            after = "crashed"
            with self._lock:
                self._crashed[event.container_id] = None
                while len(self._crashed) > _REMEMBERED:
                    self._crashed.popitem(last=False)
        self._write(event.app_id, event.app, slot, event.at, f"State changed from up to {after}")

    def _was_crashed(self, container_id: str) -> bool:
        with self._lock:
            if container_id not in self._crashed:
                return False
            del self._crashed[container_id]
            return True

    def _write(self, app_id: str, app: str, slot: str, at: datetime, text: str) -> None:
        if self.applog is not None:
            self.applog.write(LogLine(app_id, app, slot, text, at))
