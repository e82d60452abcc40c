"""The scheduler contract, as behaviour every backend must show (fake, Docker, Swarm).

Each tier runs every check against its backend:

    @pytest.mark.parametrize("check", contract.CHECKS, ids=contract.names())
    def test_the_contract(check, backend):
        check(backend)

A `Backend` gives the scheduler, a way to build manifests of the image it can run (busybox,
where the backend runs real containers), and how long to wait for what is asynchronous there.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from empire.errors import NotSupported
from empire.model import App, Outcome, Port, Process, Size
from empire.scheduler import Manifest, Scheduler
from support.waiting import wait_for

MB = 1024 * 1024
SIZE = Size(cpu_shares=128, memory=64 * MB, nproc=64)
WEB = (
    "sh",
    "-c",
    'mkdir -p /www && echo "$EMPIRE_RELEASE" > /www/index.html && exec httpd -f -p "$PORT" -h /www',
)
WORKER = ("sh", "-c", "exec sleep 3600")


@dataclass
class Backend:
    scheduler: Scheduler
    # (app, version, formation, config) -> the manifest of that release
    build: Callable[[App, int, dict[str, Process], dict[str, str]], Manifest]
    patience: float = 60.0  # seconds to wait for what the backend does on its own
    apps: list[App] = field(default_factory=list)

    def app(self) -> App:
        now = datetime.now(UTC)
        made = App(
            id=str(uuid.uuid4()), name=f"ct-{uuid.uuid4().hex[:6]}", created_at=now, updated_at=now
        )
        self.apps.append(made)
        return made

    def release(
        self, app: App, version: int, web: int = 1, worker: int = 1, **config: str
    ) -> Manifest:
        formation = {
            "web": Process("web", WEB, web, SIZE, ports=(Port(80, 80, "http"),)),
            "worker": Process("worker", WORKER, worker, SIZE),
        }
        return self.build(app, version, formation, dict(config))

    def up(self, app: App) -> list[Any]:
        return [t for t in self.scheduler.tasks(app.id) if t.state == "up"]

    def cleanup(self) -> None:
        for app in self.apps:
            with contextlib.suppress(Exception):
                self.scheduler.remove(app.id)


def submitted(backend: Backend, manifest: Manifest) -> None:
    verdict = backend.scheduler.submit(manifest)
    assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason


def check_submit_is_idempotent_and_names_tasks(backend: Backend) -> None:
    app = backend.app()
    v1 = backend.release(app, 1, web=2)
    submitted(backend, v1)
    first = sorted((t.name, t.id) for t in backend.up(app))
    assert [name for name, _ in first] == ["v1.web.1", "v1.web.2", "v1.worker.1"]
    submitted(backend, v1)
    assert sorted((t.name, t.id) for t in backend.up(app)) == first  # nothing replaced


def check_a_newer_release_supersedes(backend: Backend) -> None:
    app = backend.app()
    submitted(backend, backend.release(app, 1))
    submitted(backend, backend.release(app, 2, COLOR="blue"))
    wait_for(
        lambda: sorted(t.name for t in backend.up(app)) == ["v2.web.1", "v2.worker.1"],
        backend.patience,
        "only v2's instances",
    )
    assert all(t.command == " ".join(WEB) for t in backend.up(app) if t.process == "web")


def check_scale_and_zero(backend: Backend) -> None:
    app = backend.app()
    submitted(backend, backend.release(app, 1, web=1, worker=2))
    submitted(backend, backend.release(app, 1, web=3, worker=0))
    wait_for(
        lambda: sorted(t.name for t in backend.up(app)) == [f"v1.web.{n}" for n in (1, 2, 3)],
        backend.patience,
        "three web instances and no worker",
    )


def check_restart_replaces_every_instance(backend: Backend) -> None:
    app = backend.app()
    v1 = backend.release(app, 1, worker=0)
    submitted(backend, v1)
    before = {t.id for t in backend.up(app)}
    verdict = backend.scheduler.restart(v1)
    assert verdict.outcome is Outcome.SUCCEEDED, verdict.reason
    wait_for(
        lambda: {t.id for t in backend.up(app)} and not {t.id for t in backend.up(app)} & before,
        backend.patience,
        "new instances",
    )
    assert [t.name for t in backend.up(app)] == ["v1.web.1"]


def check_stop_replaces_the_instance(backend: Backend) -> None:
    """`stop` ends one instance and the backend replaces it: a new instance of the same
    process and release (a new id) comes up, and the other instance is left alone.

    The replacement is the backend's business: Swarm starts one itself, Docker's next submit
    of the unchanged manifest heals the missing instance (the reconciler's round, every few
    seconds), the fake swaps it at once. So the wait plays the reconciler: every round submits
    the manifest again, which must change nothing else. A backend may refuse to stop a given
    instance (`NotSupported`: Swarm, for a task on another node than the manager's); then
    another instance is stopped instead, and at least one must be stoppable.
    """
    app = backend.app()
    v1 = backend.release(app, 1, web=2, worker=0)
    submitted(backend, v1)
    wait_for(lambda: len(backend.up(app)) == 2, backend.patience, "two web instances up")
    instances = sorted(backend.up(app), key=lambda t: t.name)
    refused: list[str] = []
    for victim in instances:
        try:
            backend.scheduler.stop(app.id, victim.name)
        except NotSupported as e:
            refused.append(f"{victim.name}: {e}")
            continue
        break
    else:
        raise AssertionError(f"no instance could be stopped: {refused}")
    (survivor,) = [t for t in instances if t.id != victim.id]

    def replaced() -> bool:
        submitted(backend, v1)  # the reconciler's round
        up = backend.up(app)
        ids = {t.id for t in up}
        return (
            len(up) == 2
            and victim.id not in ids
            and survivor.id in ids
            and all((t.process, t.release) == ("web", 1) for t in up)
        )

    wait_for(
        replaced,
        backend.patience,
        f"{victim.name} ({victim.id}) replaced by a new instance of v1 web",
        interval=0.5,
        ignore=(AssertionError,),  # a round's submit may meet the replacement half-way
        detail=lambda: repr([(t.name, t.id, t.state) for t in backend.scheduler.tasks(app.id)]),
    )
    assert sorted(t.name for t in backend.up(app)) == ["v1.web.1", "v1.web.2"]


def check_a_detached_run_is_listed(backend: Backend) -> None:
    app = backend.app()
    v1 = backend.release(app, 1, web=0, worker=0)
    submitted(backend, v1)
    run = backend.build(app, 1, {"run": Process("run", ("sh", "-c", "sleep 30"), 1, SIZE)}, {})
    task = backend.scheduler.run(run, run.processes[0])
    assert task.name == "v1.run.1"
    wait_for(
        lambda: any(t.name == "v1.run.1" for t in backend.scheduler.tasks(app.id)),
        backend.patience,
        "the run listed",
    )


def check_an_attached_run_gives_its_output_and_exit_code(backend: Backend) -> None:
    app = backend.app()
    run = backend.build(
        app, 1, {"run": Process("run", ("sh", "-c", "echo hi; exit 3"), 1, SIZE)}, {}
    )
    attachment = backend.scheduler.attach(run, run.processes[0], tty=False)
    try:
        output = b"".join(chunk for _, chunk in attachment.output())
        assert attachment.wait(backend.patience) == 3
    finally:
        attachment.kill()
    assert output.strip() == b"hi"
    attachment.kill()  # idempotent


def check_the_release_phase_gives_its_exit_code_and_output(backend: Backend) -> None:
    app = backend.app()
    phase = Process(
        "migrate", ("sh", "-c", "echo migrated $COLOR; exit 2"), 0, SIZE, noservice=True
    )
    built = backend.build(app, 4, {"migrate": phase}, {"COLOR": "red"})  # its command
    lines: list[str] = []
    result = backend.scheduler.release_phase(
        built, built.processes[0], timeout=backend.patience, output=lines.append
    )
    assert result.exit_code == 2
    assert lines == ["migrated red"] and result.tail == ("migrated red",)
    assert backend.scheduler.tasks(app.id) == []  # no process of the app


def check_tasks_show_the_command_as_written(backend: Backend) -> None:
    """A command that uses a config var runs with it expanded, but a task (what `ps` shows
    to every viewer) carries the command as the Procfile wrote it, never the secret."""
    app = backend.app()
    command = ("env", "SEEN=$SECRET", "sleep", "3600")
    built = backend.build(
        app, 1, {"worker": Process("worker", command, 1, SIZE)}, {"SECRET": "hunter2"}
    )
    assert built.processes[0].command == ("env", "SEEN=hunter2", "sleep", "3600")  # it runs so
    submitted(backend, built)
    wait_for(lambda: len(backend.up(app)) == 1, backend.patience, "the worker up")
    (task,) = backend.up(app)
    assert task.command == "env SEEN=$SECRET sleep 3600"
    assert all("hunter2" not in t.command for t in backend.scheduler.tasks(app.id))


def check_prune_removes_what_the_store_no_longer_knows(backend: Backend) -> None:
    kept, gone = backend.app(), backend.app()
    submitted(backend, backend.release(kept, 1, worker=0))
    submitted(backend, backend.release(gone, 1, worker=0))
    backend.scheduler.prune([kept.id])
    wait_for(lambda: backend.up(gone) == [], backend.patience, "the pruned app's instances gone")
    assert [t.name for t in backend.up(kept)] == ["v1.web.1"]


CHECKS = [
    check_submit_is_idempotent_and_names_tasks,
    check_a_newer_release_supersedes,
    check_scale_and_zero,
    check_restart_replaces_every_instance,
    check_stop_replaces_the_instance,
    check_a_detached_run_is_listed,
    check_an_attached_run_gives_its_output_and_exit_code,
    check_the_release_phase_gives_its_exit_code_and_output,
    check_tasks_show_the_command_as_written,
    check_prune_removes_what_the_store_no_longer_knows,
]


def names() -> list[str]:
    return [c.__name__.removeprefix("check_") for c in CHECKS]
