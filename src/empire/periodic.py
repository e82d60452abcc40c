"""A daemon thread that calls a function every few seconds until closed (cron, supervision)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """`fn()` every `every` seconds in a thread named `name`; an exception is logged and the
    next round runs anyway. `start` and `close` are idempotent."""

    def __init__(self, name: str, every: float, fn: Callable[[], object]) -> None:
        self.name = name
        self.every = every
        self.fn = fn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.fn()
            except Exception:  # keep going whatever one round did
                log.exception("%s", self.name)
