"""Formation and tasks: scale, ps, restart, stop, run, logs."""

from __future__ import annotations

import dataclasses
import re
import shlex
import uuid
from collections.abc import Iterator

from empire import formation as rules
from empire import manifest
from empire.applogs import merge
from empire.errors import (
    Invalid,
    NotFound,
)
from empire.model import (
    App,
    Process,
    Release,
    Role,
    RunRequest,
    ScaleUpdate,
    Task,
    User,
)
from empire.scheduler import Attachment, LogQuery, Manifest
from empire.usecases.access import Access
from empire.usecases.base import no_release, size_text, store_reads

_PROCESS_IDS = uuid.UUID("6f1d9a3e-57d4-4c8b-9a3b-0d2c3f6f2a11")
_RELEASE_PREFIX = re.compile(r"^v\d+\.")


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
        return view.app, [view.formation[name] for name in manifest.process_types(view.formation)]

    def scale(
        self,
        ident: str,
        updates: list[ScaleUpdate],
        *,
        by: User,
        message: str | None = None,
    ) -> tuple[App, list[Process]]:
        """Set quantity and/or size per process (named by type, or by its `process_id`); a
        missing quantity keeps the current one. Returns the app and the changed processes."""
        self._require_message(message)
        if not updates:
            raise Invalid("no formation updates given: e.g. web=2 or worker=1:2X")
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "scaling")
            tx.lock_app(app.id)
            release = self._current(tx, app)
            formation = dict(release.formation)
            ids = {process_id(app.id, name): name for name in formation}
            names: list[str] = []
            changed: list[tuple[Process, Process]] = []
            for update in updates:
                name = update.process if update.process in formation else ids.get(update.process)
                before = formation.get(name or update.process)
                if name is None or before is None:
                    known = ", ".join(manifest.process_types(formation)) or "none"
                    raise NotFound(
                        f"Couldn't find that formation: no process type {update.process!r} in "
                        f"{app.name} v{release.version} (process types: {known})",
                        resource="formation",
                    )
                if name == manifest.RELEASE:
                    raise Invalid(
                        "release is the release phase: it runs once per release, before the "
                        "release's processes start, and is not scaled"
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
                formation[name] = after
                names.append(name)
                changed.append((before, after))
            tx.update_formation(release.id, formation, self.clock())
            release = dataclasses.replace(release, formation=formation)
            for before, after in changed:
                text = (
                    f"{by.name} scaled `{after.name}` on {app.name} from "
                    f"{before.quantity}({size_text(before)}) "
                    f"to {after.quantity}({size_text(after)})"
                )
                self._publish("scale", by, app, text, message, tx=tx)
        self._submit(app, release, record=False)
        return app, [formation[name] for name in names]

    # -- tasks --------------------------------------------------------------------------------

    def tasks(self, ident: str, *, by: User) -> list[Task]:
        """List the app's tasks as the scheduler reports them."""
        return self.dynos(ident, by=by)[1]

    def dynos(self, ident: str, *, by: User) -> tuple[App, list[Task]]:
        """Return the app and its tasks as the scheduler reports them."""
        app = self._find_as(ident, by, Role.VIEWER, "listing dynos")
        return app, self.scheduler.tasks(app.id)

    def dyno(self, ident: str, name: str, *, by: User) -> tuple[App, Task]:
        """Return the app and one of its tasks, by name, id or Heroku's `web.1`."""
        app, tasks = self.dynos(ident, by=by)
        return app, find_task(tasks, name, app.name)

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
        self._restart(app, release, domains, process, by, message)

    def restart_dyno(self, ident: str, dyno: str, *, by: User, message: str | None = None) -> None:
        """Restart what `dyno` names: a process type (`web`) restarts all its instances,
        rolling; a task (`v3.web.1`, its id, or Heroku's `web.1`) is stopped, and replaced by
        the scheduler while its process is scaled up."""
        self._require_message(message)
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "restarting")
            release = self._current(tx, app)
            domains = self._domain_names(tx, app)
        if "." not in dyno and dyno in release.formation:
            self._restart(app, release, domains, dyno, by, message)
            return
        task = find_task(self.scheduler.tasks(app.id), dyno, app.name)
        self._translate(lambda: self.scheduler.stop(app.id, task.name))
        text = f"{by.name} restarted `{task.name}` on {app.name}"
        self._publish("restart", by, app, text, message)

    def _restart(
        self,
        app: App,
        release: Release,
        domains: tuple[str, ...],
        process: str | None,
        by: User,
        message: str | None,
    ) -> None:
        with self._lock_for(app.id):
            self._translate(
                lambda: self.scheduler.restart(manifest.build(app, release, domains), process)
            )
        what = f"`{process}` on {app.name}" if process else app.name
        self._publish("restart", by, app, f"{by.name} restarted {what}", message)

    def run(
        self, ident: str, request: RunRequest, *, by: User, message: str | None = None
    ) -> tuple[App, Task]:
        """Start a detached one-off task from the current release; return the app and it."""
        app, built = self._one_off(ident, request, by, message)
        self._publish(
            "run",
            by,
            built.app_name,
            f"{by.name} started running `{request.command}` (detached) on {built.app_name}",
            message,
            app_id=built.app_id,
        )
        return app, self._translate(lambda: self.scheduler.run(built, built.processes[0]))

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
        _, built = self._one_off(ident, request, by, message)
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

    def _one_off(
        self, ident: str, request: RunRequest, by: User, message: str | None
    ) -> tuple[App, Manifest]:
        """The app and the manifest of a one-off: a Procfile process by name (extra args
        appended), else the command itself, with the request's env and size over the current
        release."""
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
        # `emp run release` runs the release command again, by hand: as a one-off, since the
        # release phase itself is no process a manifest starts.
        name = "run" if process.name == manifest.RELEASE else process.name
        process = dataclasses.replace(process, name=name, noservice=False, quantity=1)
        if request.size is not None:
            process = dataclasses.replace(process, size=request.size)
        run_release = dataclasses.replace(
            release,
            formation={process.name: process},
            config=dataclasses.replace(release.config, vars={**release.config.vars, **request.env}),
        )
        return app, manifest.build(app, run_release)

    def logs(self, ident: str, query: LogQuery, *, by: User) -> Iterator[str]:
        """Yield the app's log lines: its processes' output and the platform's lines (`api`,
        process states, `router`, `release.N`) in time order, then, following, as they come
        (`empire.applogs.merge`). `query.process` also selects `api` and `router`."""
        app = self._find_as(ident, by, Role.VIEWER, "reading logs")
        return merge.read(self.applog, app.id, query, lambda q: self.scheduler.logs(app.id, q))


def process_id(app_id: str, process: str) -> str:
    """The stable id of an app's process type (Heroku's formation id): a UUID derived from
    both, the same in every release."""
    return str(uuid.uuid5(_PROCESS_IDS, f"{app_id}/{process}"))


def find_task(tasks: list[Task], ident: str, app: str) -> Task:
    """Find a task by name, id, or Heroku's `web.1` (our names carry the release: v3.web.1)."""
    for task in tasks:
        if ident in (task.name, task.id):
            return task
    for task in tasks:
        if _RELEASE_PREFIX.sub("", task.name) == ident:
            return task
    raise NotFound(
        f"Couldn't find that dyno: no dyno {ident!r} in {app} (see `emp ps`)", resource="dyno"
    )


def _shown(quantity: int) -> str:
    """A quantity for an error message: a number thousands of digits long is not repeated."""
    return str(quantity) if quantity.bit_length() < 64 else "that large"
