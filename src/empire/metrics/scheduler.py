"""The scheduler, measured from outside: rollouts, release phases, releases by outcome, and
what each app should run.

`MeteredScheduler` wraps whichever backend the wiring built and passes every call through.
Around `submit` it times the rollout (`trigger`: `api` for a use case, `reconciler` for a
reconciler round, see `Metrics.watch_reconciler`), and learns from the manifest what the app
should run (`AppStats.know`): the desired count of each process type, and the app's name for
its series. A release is counted once, by the verdict of its first rollout (or of its release
phase when that fails: nothing is rolled out then), with the kind of change that made it
(the event sink `ReleaseKinds` tells: deploy, rollback, config).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ParamSpec

from empire.events import Event
from empire.scheduler import (
    Manifest,
    ManifestProcess,
    PhaseResult,
    Scheduler,
    StatusFn,
    Verdict,
)

if TYPE_CHECKING:
    from empire.metrics.registry import Metrics

API, RECONCILER = "api", "reconciler"
_KINDS = {"deploy": "deploy", "rollback": "rollback", "set": "config"}
_trigger = threading.local()


def trigger() -> str:
    """Who asked for the rollout running in this thread: `reconciler` or `api`."""
    return str(getattr(_trigger, "value", API))


P = ParamSpec("P")


def as_reconciler(fn: Callable[P, None]) -> Callable[P, None]:
    """`fn`, with its rollouts counted as the reconciler's."""

    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        _trigger.value = RECONCILER
        try:
            fn(*args, **kwargs)
        finally:
            _trigger.value = API

    return run


def desired(manifest: Manifest) -> dict[str, int]:
    """What the manifest runs: instances per long-running process type (not cron, not
    noservice)."""
    return {
        p.name: p.quantity for p in manifest.processes if p.schedule is None and not p.noservice
    }


class ReleaseKinds:
    """An event sink that remembers, per app, what made its newest release."""

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        kind = _KINDS.get(event.kind)
        if kind is not None and event.app_id:
            with self._lock:
                self._kinds[event.app_id] = kind

    def take(self, app_id: str) -> str:
        with self._lock:
            return self._kinds.pop(app_id, "other")

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._kinds.pop(app_id, None)


class MeteredScheduler:
    """A Scheduler that measures the one it wraps (see the module)."""

    def __init__(self, inner: Scheduler, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self._counted: dict[str, int] = {}  # app id -> the newest release counted
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # the backend's own extras (tests, status)
        return getattr(self.inner, name)

    def _release(self, manifest: Manifest, outcome: str, by: str) -> None:
        """Count the release's outcome, if it is the first word on this release."""
        with self._lock:
            last = self._counted.get(manifest.app_id)
            if last is not None and manifest.release <= last:
                return
            self._counted[manifest.app_id] = manifest.release
        kind = self.metrics.kinds.take(manifest.app_id)
        if last is None and by == RECONCILER:
            return  # Empire just started: a release of before
        self.metrics.releases.labels(kind, outcome).inc()

    # -- measured -----------------------------------------------------------------------------

    def submit(self, manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        by = trigger()
        started = time.monotonic()
        try:
            verdict = self.inner.submit(manifest, status)
        except Exception:
            self.metrics.rollout(by, "error", time.monotonic() - started)
            raise
        self.metrics.rollout(by, verdict.outcome.value, time.monotonic() - started)
        self.metrics.apps.know(manifest.app_id, manifest.app_name, desired(manifest))
        self._release(manifest, verdict.outcome.value, by)
        return verdict

    def release_phase(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        started = time.monotonic()
        outcome = "error"
        try:
            result = self.inner.release_phase(manifest, process, timeout=timeout, output=output)
            code = result.exit_code
            outcome = "succeeded" if code == 0 else "timeout" if code is None else "failed"
            return result
        finally:
            self.metrics.release_phase.labels(outcome).observe(time.monotonic() - started)
            if outcome != "succeeded":  # nothing of the release is rolled out
                self._release(manifest, "failed", trigger())

    def remove(self, app_id: str) -> None:
        self.inner.remove(app_id)
        self.metrics.apps.forget(app_id)
        self.metrics.kinds.forget(app_id)
        with self._lock:
            self._counted.pop(app_id, None)

    def prune(self, keep: Collection[str]) -> None:
        self.inner.prune(keep)
        self.metrics.apps.keep_only(keep)
        with self._lock:
            for app_id in [a for a in self._counted if a not in keep]:
                del self._counted[app_id]

    # -- passed through -----------------------------------------------------------------------

    def tasks(self, app_id: str) -> Any:
        return self.inner.tasks(app_id)

    def stop(self, app_id: str, task: str) -> None:
        self.inner.stop(app_id, task)

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        return self.inner.restart(manifest, process, status)

    def run(self, manifest: Manifest, process: ManifestProcess) -> Any:
        return self.inner.run(manifest, process)

    def attach(self, manifest: Manifest, process: ManifestProcess, **options: Any) -> Any:
        return self.inner.attach(manifest, process, **options)

    def logs(self, app_id: str, query: Any) -> Any:
        return self.inner.logs(app_id, query)

    def start(self) -> None:
        self.inner.start()

    def status(self) -> dict[str, object]:
        return self.inner.status()

    def close(self) -> None:
        self.inner.close()
