"""Formation and tasks: scale, ps, restart, stop, run, logs."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator

from empire import formation as rules
from empire import manifest
from empire.errors import (
    Invalid,
    NotFound,
)
from empire.model import (
    App,
    Process,
    Role,
    RunRequest,
    ScaleUpdate,
    Task,
    User,
)
from empire.scheduler import Attachment, LogQuery, Manifest
from empire.usecases.access import Access
from empire.usecases.base import _size, no_release, store_reads


class Processes(Access):
    """What runs, how much of it, and one-offs."""

    # -- formation --------------------------------------------------------------------------

    @store_reads
    def formation(self, ident: str, *, by: User) -> list[Process]:
        """Return the current release's processes, sorted by name."""
        return self.formation_of(ident, by=by)[1]

    @store_reads
    def formation_of(self, ident: str, *, by: User) -> tuple[App, list[Process]]:
        """Return the app and its current release's processes, sorted by name."""
        with self.store.read() as tx:
            action = "viewing the formation"
            view = self._view_as(tx, ident, by, Role.VIEWER, action, formation=True)
        if view.formation is None:
            raise no_release(view.app)
        return view.app, [view.formation[name] for name in sorted(view.formation)]

    def scale(
        self,
        ident: str,
        updates: list[ScaleUpdate],
        *,
        by: User,
        message: str | None = None,
    ) -> list[Process]:
        """Set quantity and/or size per process; a missing quantity keeps the current one."""
        self._require_message(message)
        if not updates:
            raise Invalid("no formation updates given: e.g. web=2 or worker=1:2X")
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "scaling")
            tx.lock_app(app.id)
            release = self._current(tx, app)
            formation = dict(release.formation)
            changed: list[tuple[Process, Process]] = []
            for update in updates:
                before = formation.get(update.process)
                if before is None:
                    known = ", ".join(sorted(formation)) or "none"
                    raise NotFound(
                        f"Couldn't find that formation: no process type {update.process!r} in "
                        f"{app.name} v{release.version} (process types: {known})",
                        resource="formation",
                    )
                if before.noservice:
                    raise Invalid(
                        f"process {update.process!r} is noservice and cannot be scaled: "
                        f"run it with `emp run {update.process}`"
                    )
                if update.quantity is not None and not 0 <= update.quantity <= rules.MAX_QUANTITY:
                    raise Invalid(
                        f"invalid quantity {_shown(update.quantity)} for {update.process}: "
                        f"use 0 to {rules.MAX_QUANTITY}"
                    )
                after = dataclasses.replace(
                    before,
                    quantity=before.quantity if update.quantity is None else update.quantity,
                    size=update.size or before.size,
                )
                formation[update.process] = after
                changed.append((before, after))
            tx.update_formation(release.id, formation, self.clock())
            release = dataclasses.replace(release, formation=formation)
            for before, after in changed:
                text = (
                    f"{by.name} scaled `{after.name}` on {app.name} from "
                    f"{before.quantity}({_size(before)}) to {after.quantity}({_size(after)})"
                )
                self._publish("scale", by, app, text, message, tx=tx)
        self._submit(app, release, record=False)
        return [formation[update.process] for update in updates]

    # -- tasks --------------------------------------------------------------------------------

    def tasks(self, ident: str, *, by: User) -> list[Task]:
        """List the app's tasks as the scheduler reports them."""
        app = self._find_as(ident, by, Role.VIEWER, "listing dynos")
        return self.scheduler.tasks(app.id)

    def restart(
        self, ident: str, process: str | None = None, *, by: User, message: str | None = None
    ) -> None:
        """Restart every instance of the app, or of one process type, rolling."""
        self._require_message(message)
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "restarting")
            release = self._current(tx, app)
            domains = self._domain_names(tx, app)
        if process is not None and process not in release.formation:
            raise NotFound(
                f"no process type {process!r} in {app.name} v{release.version}",
                resource="formation",
            )
        with self._lock_for(app.id):
            self._translate(
                lambda: self.scheduler.restart(manifest.build(app, release, domains), process)
            )
        what = f"`{process}` on {app.name}" if process else app.name
        self._publish("restart", by, app, f"{by.name} restarted {what}", message)

    def stop(self, ident: str, task: str, *, by: User, message: str | None = None) -> None:
        """Stop one task; the scheduler replaces it when its process is still scaled up."""
        self._require_message(message)
        app = self._find_as(ident, by, Role.DEPLOYER, "restarting a dyno")
        names = {t.name for t in self.scheduler.tasks(app.id)} | {
            t.id for t in self.scheduler.tasks(app.id)
        }
        if task not in names:
            raise NotFound(f"no task {task!r} in {app.name}: see `emp ps`", resource="dyno")
        self.scheduler.stop(app.id, task)
        self._publish("restart", by, app, f"{by.name} restarted `{task}` on {app.name}", message)

    def run(self, ident: str, request: RunRequest, *, by: User, message: str | None = None) -> Task:
        """Start a detached one-off task from the current release."""
        built = self._one_off(ident, request, by, message)
        self._publish(
            "run",
            by,
            built.app_name,
            f"{by.name} started running `{request.command}` (detached) on {built.app_name}",
            message,
            app_id=built.app_id,
        )
        return self._translate(lambda: self.scheduler.run(built, built.processes[0]))

    def run_attached(
        self,
        ident: str,
        request: RunRequest,
        *,
        tty: bool,
        rows: int | None = None,
        cols: int | None = None,
        by: User,
        message: str | None = None,
    ) -> Attachment:
        """Start a one-off task attached to the caller; the caller must `kill` it at the end."""
        built = self._one_off(ident, request, by, message)
        self._publish(
            "run",
            by,
            built.app_name,
            f"{by.name} started running `{request.command}` (attached) on {built.app_name}",
            message,
            app_id=built.app_id,
        )
        return self._translate(
            lambda: self.scheduler.attach(built, built.processes[0], tty=tty, rows=rows, cols=cols)
        )

    def _one_off(self, ident: str, request: RunRequest, by: User, message: str | None) -> Manifest:
        """The manifest of a one-off: a Procfile process by name (extra args appended), else
        the command itself, with the request's env and size over the current release."""
        self._require_message(message)
        try:
            argv = shlex.split(request.command)
        except ValueError as exc:
            raise Invalid(f"cannot parse command {request.command!r}: {exc}") from exc
        if not argv:
            raise Invalid("no command given: e.g. emp run ./bin/migrate")
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "running a command")
            release = self._current(tx, app)
        named = release.formation.get(argv[0])
        if named is not None:
            process = dataclasses.replace(named, command=named.command + tuple(argv[1:]))
        else:
            process = Process(name="run", command=tuple(argv))
        process = dataclasses.replace(process, name=process.name, noservice=False, quantity=1)
        if request.size is not None:
            process = dataclasses.replace(process, size=request.size)
        run_release = dataclasses.replace(
            release,
            formation={process.name: process},
            config=dataclasses.replace(release.config, vars={**release.config.vars, **request.env}),
        )
        return manifest.build(app, run_release)

    def logs(self, ident: str, query: LogQuery, *, by: User) -> Iterator[str]:
        """Yield the app's log lines."""
        app = self._find_as(ident, by, Role.VIEWER, "reading logs")
        return self.scheduler.logs(app.id, query)


def _shown(quantity: int) -> str:
    """A quantity for an error message: a number thousands of digits long is not repeated."""
    return str(quantity) if quantity.bit_length() < 64 else "that large"
