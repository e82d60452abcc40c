"""FakeScheduler: in memory and deterministic, for tests and `EMPIRE_SCHEDULER=fake` demos.

Tasks are named `v<release>.<process>.<n>`, as Empire's fake names them; one-off runs
`v<release>.run.<n>`, numbered per app. A stopped instance is replaced at once, as a real
backend replaces it: the same name, a new id.

Attached runs (`attach`) run a canned process, `FakeAttachment`, instead of their command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import re
import shlex
import threading
from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from empire.errors import NotFound
from empire.model import Clock, Outcome, Size, Task, utcnow
from empire.scheduler import (
    STDERR,
    STDOUT,
    LogQuery,
    Manifest,
    ManifestProcess,
    PhaseResult,
    StatusFn,
    Verdict,
)


class FakeScheduler:
    """Pretends every rollout succeeds at once, unless told otherwise with `fail_next`."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self.manifests: dict[str, Manifest] = {}
        self.runs: dict[str, list[Task]] = {}
        self.stopped: list[str] = []
        self.restarts: list[tuple[str, str | None]] = []
        self.lines: dict[str, list[str]] = {}
        self.started: dict[str, datetime] = {}
        self.attachments: list[FakeAttachment] = []
        self.killed: list[str] = []
        self.phases: list[tuple[str, int, str]] = []  # (app id, release, command) per phase
        self._generation: dict[tuple[str, str], int] = {}  # restarts of each process
        self._replaced: dict[tuple[str, str], int] = {}  # (app id, task name) -> times stopped
        self._serial: dict[str, int] = {}
        self._verdicts: list[Verdict] = []
        self._lock = threading.Lock()
        self._watchers: list[Callable[[str], None]] = []

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
            manifest = self.manifests.get(app_id)
            if manifest is None:
                return
            for process in manifest.processes:
                if process.noservice or process.schedule:
                    continue
                for n in range(1, process.quantity + 1):
                    instance = self._task(manifest, process, n, "up")
                    if task in (instance.name, instance.id):  # replaced: a new id
                        key = (app_id, instance.name)
                        self._replaced[key] = self._replaced.get(key, 0) + 1

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        with self._lock:
            if manifest.app_id not in self.manifests:
                raise NotFound(f"{manifest.app_name} is not running")
            self.restarts.append((manifest.app_id, process))
            for p in manifest.processes:
                if process in (None, p.name):
                    key = (manifest.app_id, p.name)
                    self._generation[key] = self._generation.get(key, 0) + 1
        return Verdict(Outcome.SUCCEEDED)

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        with self._lock:
            runs = self.runs.setdefault(manifest.app_id, [])
            task = self._task(manifest, process, self._next_run(manifest.app_id), "up", kind="run")
            runs.append(task)
            self._log(
                manifest.app_id, task.name.split(".", 1)[1], f"run {' '.join(process.command)}"
            )
        return task

    def attach(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        tty: bool,
        rows: int | None = None,
        cols: int | None = None,
    ) -> FakeAttachment:
        """Start a canned attached process, listed in `tasks` until it is killed."""
        with self._lock:
            n = self._next_run(manifest.app_id)
            task = self._task(manifest, process, n, "up", kind="run")
            self.runs.setdefault(manifest.app_id, []).append(task)
            attachment = FakeAttachment(
                self,
                manifest.app_id,
                task,
                process.command,
                tty=tty,
                rows=rows,
                cols=cols,
                env=process.env,
            )
            self.attachments.append(attachment)
            self._log(manifest.app_id, f"run.{n}", f"run {' '.join(process.command)} (attached)")
        return attachment

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        with self._lock:
            lines = list(self.lines.get(app_id, []))
        if query.process is not None:
            lines = [line for line in lines if f"[{query.process}." in line]
        if query.lines is not None:
            lines = lines[-query.lines :]
        return iter(lines)

    def subscribe(self, changed: Callable[[str], None]) -> Callable[[], None]:
        """`changed(app_id)` is called by `notify` (what a test says happened)."""
        with self._lock:
            self._watchers.append(changed)

        def unwatch() -> None:
            with self._lock:
                if changed in self._watchers:
                    self._watchers.remove(changed)

        return unwatch

    def notify(self, app_id: str) -> None:
        """Tell the watchers that something of the app changed behind Empire's back."""
        with self._lock:
            watchers = list(self._watchers)
        for changed in watchers:
            changed(app_id)

    def sweep(self) -> contextlib.AbstractContextManager[None]:
        """A reconcile round: nothing is read ahead."""
        return contextlib.nullcontext()

    def prune(self, keep: Collection[str]) -> None:
        with self._lock:
            for app_id in set(self.manifests) - set(keep):
                self.manifests.pop(app_id, None)
                self.runs.pop(app_id, None)

    def release_phase(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        """Pretend to run the release command (`sh -c 'echo ...; exit N'`, see `script`)."""
        command = process.shown or " ".join(process.command)
        with self._lock:
            self.phases.append((manifest.app_id, manifest.release, command))
        lines, code = script(list(process.command), process.env) or ([f"running {command}"], 0)
        for line in lines:
            output(line)
            with self._lock:
                self._log(manifest.app_id, f"release.{manifest.release}", line)
        return PhaseResult(code, tuple(lines[-20:]))

    def status(self) -> dict[str, object]:
        return {}

    def start(self) -> None:
        """Nothing runs in the background."""

    def close(self) -> None:
        """Nothing runs in the background."""

    def _next_run(self, app_id: str) -> int:
        self._serial[app_id] = self._serial.get(app_id, 0) + 1
        return self._serial[app_id]

    def _forget(self, attachment: FakeAttachment) -> None:
        with self._lock:
            self.killed.append(attachment.name)
            runs = self.runs.get(attachment.app_id)
            if runs is not None:
                self.runs[attachment.app_id] = [t for t in runs if t.name != attachment.name]

    def _log(self, app_id: str, source: str, text: str) -> None:
        stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        self.lines.setdefault(app_id, []).append(f"{stamp} empire[{source}]: {text}")

    def _task(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        n: int,
        state: str,
        kind: str | None = None,
    ) -> Task:
        name = f"v{manifest.release}.{kind or process.name}.{n}"
        generation = self._generation.get((manifest.app_id, process.name), 0)
        replaced = self._replaced.get((manifest.app_id, name), 0)
        ident = f"{name}.r{generation}" if generation else name  # a restart: new instances
        return Task(
            name=name,
            id=f"{ident}.s{replaced}" if replaced else ident,  # a stop: a new instance
            process=process.name,
            release=manifest.release,
            command=process.shown or " ".join(process.command),
            state=state,
            host="fake",
            size=Size(process.cpu_shares, process.memory, process.nproc),
            updated_at=self.clock(),
        )


_EOF = b""
_KILL = None


class FakeAttachment:
    """A canned attached process, deterministic for tests.

    The command decides what it does:

    - `echo WORDS...` prints WORDS on stdout and exits 0 without reading stdin;
    - `exit N` exits N at once;
    - anything else is a line-oriented fake shell: for each line of stdin, `warn TEXT` prints
      TEXT on stderr, `exit N` exits N, `size` prints the terminal's `<rows> <cols>`, and any
      other line is echoed back on stdout; end of stdin exits 0.

    With a terminal everything goes to stdout, as on a real one. A kill ends it with 137.
    """

    def __init__(
        self,
        scheduler: FakeScheduler,
        app_id: str,
        task: Task,
        command: tuple[str, ...],
        *,
        tty: bool,
        rows: int | None,
        cols: int | None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = env or {}
        self.app_id = app_id
        self.task = task
        self.command = command
        self.tty = tty
        self.size = (rows, cols)
        self.resizes: list[tuple[int, int]] = []
        self.stdin = bytearray()
        self.stdin_closed = False
        self.killed = False
        self._scheduler = scheduler
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._exit: int | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.task.name

    def output(self) -> Iterator[tuple[int, bytes]]:
        argv = list(self.command)
        if len(argv) == 1:  # a command sent as one string: `emp run 'echo hi'`
            argv = shlex.split(argv[0])
        if argv[:1] == ["echo"]:
            yield STDOUT, " ".join(argv[1:]).encode() + b"\n"
            self._finish(0)
            return
        ran = script(argv, self.env)
        if ran is not None:
            for printed in ran[0]:
                yield STDOUT, printed.encode() + b"\n"
            self._finish(ran[1])
            return
        if argv[:1] == ["exit"]:
            self._finish(_code(argv[1:]))
            return
        pending = b""
        while True:
            item = self._inbox.get()
            if item is _KILL:
                self._finish(137)
                return
            if item == _EOF:
                if pending:
                    yield from self._line(pending)
                self._finish(0)
                return
            pending += item
            while b"\n" in pending and self._exit is None:
                line, pending = pending.split(b"\n", 1)
                yield from self._line(line)
            if self._exit is not None:
                return

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.stdin_closed or self.killed:
                return
            self.stdin += data
        self._inbox.put(bytes(data))

    def close_stdin(self) -> None:
        with self._lock:
            if self.stdin_closed:
                return
            self.stdin_closed = True
        self._inbox.put(_EOF)

    def resize(self, rows: int, cols: int) -> None:
        with self._lock:
            self.size = (rows, cols)
            self.resizes.append((rows, cols))

    def wait(self, timeout: float | None = None) -> int | None:
        self._done.wait(timeout)
        return self._exit

    def kill(self) -> None:
        with self._lock:
            if self.killed:
                return
            self.killed = True
        self._inbox.put(_KILL)
        self._finish(137)
        self._scheduler._forget(self)

    def _line(self, raw: bytes) -> Iterator[tuple[int, bytes]]:
        text = raw.decode(errors="replace").rstrip("\r")
        word, _, rest = text.partition(" ")
        if word == "warn":
            yield STDOUT if self.tty else STDERR, rest.encode() + b"\n"
        elif word == "exit":
            self._finish(_code(rest.split()))
        elif text == "size":
            rows, cols = self.size
            yield STDOUT, f"{rows} {cols}\n".encode()
        else:
            yield STDOUT, raw.rstrip(b"\r") + b"\n"

    def _finish(self, code: int) -> None:
        with self._lock:
            if self._exit is None:
                self._exit = code
        self._done.set()


def script(argv: list[str], env: dict[str, str]) -> tuple[list[str], int] | None:
    """What `sh -c 'echo ...; exit N'` prints and exits with, for the commands a fake can run
    like a shell would (`echo`, with $VARs; `exit N`; `sleep N` does not wait); None for any
    other command."""
    if len(argv) != 3 or argv[0].rsplit("/", 1)[-1] not in ("sh", "bash") or argv[1] != "-c":
        return None
    lines: list[str] = []
    for statement in argv[2].split(";"):
        words = shlex.split(statement.strip())
        if not words:
            continue
        if words[0] == "echo":  # an unquoted word that expands to nothing is no word
            lines.append(" ".join(w for w in (_expand(w, env) for w in words[1:]) if w))
        elif words[0] == "exit":
            return lines, _code(words[1:2])
        elif words[0] not in ("sleep", "true"):
            return None
    return lines, 0


def _expand(word: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), word)


def _code(args: list[str]) -> int:
    try:
        return int(args[0]) & 0xFF if args else 0
    except ValueError:
        return 2
