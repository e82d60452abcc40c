"""FakeScheduler: in memory and deterministic, for tests and `EMPIRE_SCHEDULER=fake` demos.

Tasks are named `v<release>.<process>.<n>`, as Empire's fake names them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime

from empire.errors import NotFound
from empire.model import Outcome, Size, Task
from empire.scheduler import LogQuery, Manifest, ManifestProcess, StatusFn, Verdict


def _now() -> datetime:
    return datetime.now(UTC)


class FakeScheduler:
    """Pretends every rollout succeeds at once, unless told otherwise with `fail_next`."""

    def __init__(self, clock: Callable[[], datetime] = _now) -> None:
        self.clock = clock
        self.manifests: dict[str, Manifest] = {}
        self.runs: dict[str, list[Task]] = {}
        self.stopped: list[str] = []
        self.restarts: list[tuple[str, str | None]] = []
        self.lines: dict[str, list[str]] = {}
        self.started: dict[str, datetime] = {}
        self._verdicts: list[Verdict] = []
        self._lock = threading.Lock()

    def fail_next(self, verdict: Verdict) -> None:
        """Make the next submit end with `verdict` (and keep the previous manifest)."""
        self._verdicts.append(verdict)

    def submit(self, manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        with self._lock:
            verdict = self._verdicts.pop(0) if self._verdicts else Verdict(Outcome.SUCCEEDED)
            if verdict.outcome is Outcome.SUCCEEDED:
                before = self.manifests.get(manifest.app_id)
                if before is None or before.release != manifest.release:
                    self.started[manifest.app_id] = self.clock()
                self.manifests[manifest.app_id] = manifest
            self._log(
                manifest.app_id, "deploy", f"release v{manifest.release} {verdict.outcome.value}"
            )
        if status is not None:
            for process in manifest.processes:
                if process.quantity and not process.schedule:
                    status(f"Status: {process.name}: {process.quantity} instances running")
        return verdict

    def remove(self, app_id: str) -> None:
        with self._lock:
            self.manifests.pop(app_id, None)
            self.runs.pop(app_id, None)

    def tasks(self, app_id: str) -> list[Task]:
        with self._lock:
            manifest = self.manifests.get(app_id)
            runs = list(self.runs.get(app_id, []))
        if manifest is None:
            return runs
        tasks = []
        for process in manifest.processes:
            if process.noservice or process.schedule:
                continue
            for n in range(1, process.quantity + 1):
                task = self._task(manifest, process, n, "up")
                started = self.started.get(app_id, task.updated_at)
                tasks.append(dataclasses.replace(task, updated_at=started))
        return tasks + runs

    def stop(self, app_id: str, task: str) -> None:
        with self._lock:
            self.stopped.append(task)
            runs = self.runs.get(app_id, [])
            self.runs[app_id] = [t for t in runs if t.name != task]

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        with self._lock:
            if manifest.app_id not in self.manifests:
                raise NotFound(f"{manifest.app_name} is not running")
            self.restarts.append((manifest.app_id, process))
        return Verdict(Outcome.SUCCEEDED)

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        with self._lock:
            runs = self.runs.setdefault(manifest.app_id, [])
            task = self._task(manifest, process, len(runs) + 1, "up")
            runs.append(task)
            self._log(manifest.app_id, task.name, f"run {' '.join(process.command)}")
        return task

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        with self._lock:
            lines = list(self.lines.get(app_id, []))
        if query.process is not None:
            lines = [line for line in lines if f"[{query.process}." in line]
        if query.lines is not None:
            lines = lines[-query.lines :]
        return iter(lines)

    def prune(self, keep: Collection[str]) -> None:
        with self._lock:
            for app_id in set(self.manifests) - set(keep):
                self.manifests.pop(app_id, None)
                self.runs.pop(app_id, None)

    def _log(self, app_id: str, source: str, text: str) -> None:
        stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.lines.setdefault(app_id, []).append(f"{stamp} empire[{source}]: {text}")

    def _task(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        n: int,
        state: str,
    ) -> Task:
        name = f"v{manifest.release}.{process.name}.{n}"
        return Task(
            name=name,
            id=name,
            process=process.name,
            release=manifest.release,
            command=" ".join(process.command),
            state=state,
            host="fake",
            size=Size(process.cpu_shares, process.memory, process.nproc),
            updated_at=self.clock(),
        )
