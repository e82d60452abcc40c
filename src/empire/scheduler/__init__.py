"""The scheduler contract, in neutral words.

A `Manifest` is everything a backend needs to run one app at one release. `submit` converges
the backend to it and is idempotent, so a reconciler may call it at any time. Backends translate
their vendor errors into `SchedulerError`.

`attach` starts a one-off task wired to the caller: an `Attachment` carries its output, its
stdin, its terminal size and its exit code, and `kill` leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from empire.model import HealthCheck, Outcome, Port, Task

StatusFn = Callable[[str], None]


def quiet(_: str) -> None:
    """A StatusFn that drops every line (a submit nobody watches)."""


@dataclass(frozen=True, slots=True)
class ManifestProcess:
    """One process type of a release: `command` is what runs (variables expanded unless a shell
    will), `shown` the command as the Procfile wrote it, which is all `ps` ever shows."""

    name: str
    command: tuple[str, ...]
    quantity: int
    cpu_shares: int
    memory: int
    nproc: int
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    healthcheck: HealthCheck | None = None
    schedule: str | None = None
    noservice: bool = False
    shown: str = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    app_id: str
    app_name: str
    release: int
    image: str
    env: dict[str, str]
    labels: dict[str, str]
    processes: tuple[ManifestProcess, ...]
    public: bool = False
    domains: tuple[str, ...] = ()
    certs: dict[str, str] = field(default_factory=dict)

    def process(self, name: str) -> ManifestProcess | None:
        return next((p for p in self.processes if p.name == name), None)


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a rollout ended."""

    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """How a release phase ended: the exit code (None when it was stopped at the timeout)
    and the last lines of its output."""

    exit_code: int | None
    tail: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LogQuery:
    since: datetime | None = None
    follow: bool = False
    process: str | None = None
    lines: int | None = None


STDOUT = 1
STDERR = 2


class Attachment(Protocol):
    """A one-off task attached to its caller. Every method may be called from any thread.

    `output` yields `(stream, bytes)` with stream STDOUT or STDERR (with a terminal, everything
    is STDOUT) until the process has closed its output; `wait` then gives the exit code.
    `kill` stops the task and removes it: it is idempotent, and always the last call.
    """

    @property
    def name(self) -> str:
        """The task name, as `tasks` lists it (`v3.run.1`)."""
        ...

    def output(self) -> Iterator[tuple[int, bytes]]:
        """Yield the process's output as it comes, until it ends."""
        ...

    def write(self, data: bytes) -> None:
        """Send bytes to the process's stdin (dropped once stdin is closed)."""
        ...

    def close_stdin(self) -> None:
        """Close the process's stdin: it reads end of file."""
        ...

    def resize(self, rows: int, cols: int) -> None:
        """Set the terminal's size (nothing without a terminal)."""
        ...

    def wait(self, timeout: float | None = None) -> int | None:
        """Return the exit code, or None when the process still runs after `timeout` s."""
        ...

    def kill(self) -> None:
        """Stop the process and remove the task; idempotent."""
        ...


class Scheduler(Protocol):
    """Runs apps. Every verb is keyed by app id; tasks by the name the backend gave them."""

    def submit(self, manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        """Converge the backend to the manifest and report the verdict."""
        ...

    def remove(self, app_id: str) -> None:
        """Remove everything the backend runs for the app."""
        ...

    def tasks(self, app_id: str) -> list[Task]:
        """List the app's running and recent tasks."""
        ...

    def stop(self, app_id: str, task: str) -> None:
        """Stop one task (its replacement is the backend's business)."""
        ...

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        """Replace the instances of the app (or of one process type), rolling."""
        ...

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        """Start a detached one-off task."""
        ...

    def attach(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        tty: bool,
        rows: int | None = None,
        cols: int | None = None,
    ) -> Attachment:
        """Start a one-off task attached to the caller (stdin open; a terminal when `tty`).

        The task is listed by `tasks` while it runs. The caller must end with `kill`.
        """
        ...

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        """Yield the app's log lines. Following a quiet app, yield "" every few seconds, so the
        consumer can notice its client left and close the iterator (which ends the follow)."""
        ...

    def prune(self, keep: Collection[str]) -> None:
        """Remove whatever the backend runs for apps not in `keep` (destroyed while away)."""
        ...

    def subscribe(self, changed: Callable[[str], None]) -> Callable[[], None]:
        """Call `changed(app_id)` whenever the backend learns that what runs for the app
        changed behind Empire's back (an instance died, turned unhealthy, was removed), so
        that the app converges soon rather than at the next round; returns the function that
        stops it. A backend with no such source of news never calls it: the rounds heal."""
        ...

    def sweep(self) -> AbstractContextManager[None]:
        """A reconcile round, on the calling thread: within it the backend may read what it
        runs for every app at once and answer each `submit` (and `prune`) from that read
        where it shows nothing to do, so that a round costs a constant number of calls to
        the engine instead of one per app. A submit with work to do reads the app afresh."""
        ...

    def release_phase(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        """Run the release's `release` command once, from the manifest's image and config, and
        wait for it to end: before any process of the release starts or gets traffic.

        Each line of its output goes to `output` as it comes (binary data decoded with
        replacement, long lines cut). Still running after `timeout` s, it is stopped and
        removed, and the result's exit code is None. Nothing of it is left running either way.
        """
        ...

    def start(self) -> None:
        """Start the backend's background work (cron, supervision); idempotent."""
        ...

    def status(self) -> dict[str, object]:
        """How the backend's own parts are, for `/health` (e.g. its router)."""
        ...

    def close(self) -> None:
        """Stop the background work `start` began; idempotent."""
        ...
