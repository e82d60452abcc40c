"""One read of the engine per reconcile round instead of one per app: `Sweeps`.

A reconcile round submits every app. Read per app, a round costs one engine list call per app,
each filtering every container: O(N²) in the end. Within a `sweep`, a backend reads what it runs
for every app at once (one list by label), groups it by app, and answers each app's converge
from its group when that shows nothing to do; an app with work to do is read afresh before
anything is changed, so a stale read never drives a change.

The read is trusted for an app only when nothing this process did to the app could be missing
from it: every write of the backend notes (`wrote`, under the app's lock) when it ended, and a
group read before that is not used. Changes made behind Empire's back (a container that died
after the read) are seen by the next round, or sooner by the engine's events. A round that runs
longer than `max_age` reads again.

The snapshot belongs to the thread that opened the sweep (the reconciler's): a use case's
submit on another thread always reads the engine itself.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_AGE = 5.0  # seconds a round's read is used before it is read again


@dataclass(slots=True)
class _Round(Generic[T]):
    groups: Mapping[str, T] | None = None
    taken: float = 0.0


class Sweeps(Generic[T]):
    """The per-round read of a backend: `read()` returns app id -> what it runs."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, T]],
        *,
        empty: Callable[[], T],
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._empty = empty
        self.max_age = max_age
        self._clock = clock
        self._local = threading.local()
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def sweep(self) -> Iterator[None]:
        """A round on this thread: the first `group` call reads every app at once."""
        outer = getattr(self._local, "round", None)
        if outer is not None:  # nested: the outer round's read serves
            yield
            return
        self._local.round = _Round[T]()
        try:
            yield
        finally:
            self._local.round = None

    @property
    def active(self) -> bool:
        return getattr(self._local, "round", None) is not None

    def everything(self) -> Mapping[str, T] | None:
        """The round's read of every app (read now if the round has none yet, or an old one);
        None outside a sweep."""
        current: _Round[T] | None = getattr(self._local, "round", None)
        if current is None:
            return None
        now = self._clock()
        if current.groups is None or now - current.taken > self.max_age:
            current.groups = self._read()
            current.taken = now
        return current.groups

    def group(self, app_id: str) -> T | None:
        """What the round's read holds of the app (an empty group when it runs nothing); None
        outside a sweep, or when a write to the app may be missing from the read."""
        groups = self.everything()
        current: _Round[T] | None = getattr(self._local, "round", None)
        if groups is None or current is None:
            return None
        with self._lock:
            written = self._written.get(app_id)
        if written is not None and written >= current.taken:
            return None
        found = groups.get(app_id)
        return self._empty() if found is None else found

    def wrote(self, app_id: str) -> None:
        """Note that a write to the app just ended (call it under the app's lock)."""
        with self._lock:
            self._written[app_id] = self._clock()

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._written.pop(app_id, None)
