"""The Empire facade: one method per use case.

Ordering rule: every write commits to the store first, then submits to the scheduler, then
records the rollout's outcome on the release. The database therefore always holds what was
asked for, and `reconcile()` can converge the scheduler to it at any time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import shlex
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from empire import formation as rules
from empire import manifest, procfile, sizes
from empire.errors import (
    Conflict,
    EmpireError,
    Invalid,
    MessageRequired,
    NotFound,
    SchedulerError,
    Unauthorized,
)
from empire.events import Event, EventSink, NullSink
from empire.images import ImageRef, Images
from empire.model import (
    App,
    Config,
    Domain,
    Exposure,
    Outcome,
    Page,
    Process,
    Release,
    RunRequest,
    ScaleUpdate,
    Slug,
    Task,
    Token,
    User,
)
from empire.scheduler import LogQuery, Scheduler, Verdict
from empire.store import Store, Transaction

Clock = Callable[[], datetime]
T = TypeVar("T")
StatusFn = Callable[[dict[str, Any]], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest tokens are stored as."""
    return hashlib.sha256(token.encode()).hexdigest()


class Empire:
    """The platform's use cases. Callers pass names; the facade loads inside a transaction."""

    def __init__(
        self,
        *,
        store: Store,
        scheduler: Scheduler,
        images: Images,
        events: EventSink | None = None,
        clock: Clock = utcnow,
        messages_required: bool = False,
        token_ttl: timedelta | None = timedelta(days=30),
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.images = images
        self.events = events or NullSink()
        self.clock = clock
        self.messages_required = messages_required
        self.token_ttl = token_ttl

    # -- users and tokens -------------------------------------------------------------------

    def authenticate(self, token: str) -> User:
        """Return the user a token belongs to, or raise Unauthorized."""
        with self.store.read() as tx:
            user = tx.token_user(hash_token(token), self.clock())
        if user is None:
            raise Unauthorized(
                "Request not authenticated, API token is missing, invalid or expired"
            )
        return user

    def create_user(self, name: str, *, admin: bool = False, email: str = "") -> tuple[User, str]:
        """Create a user and a first API token; return both (the token only this once)."""
        if not rules.APP_NAME.match(name.lower()) and not name.replace(".", "").isalnum():
            raise Invalid(f"invalid user name {name!r}: use letters, digits, dots and dashes")
        user = User(id=_new_id(), name=name, email=email or f"{name}@empire.local", admin=admin)
        with self.store.write() as tx:
            tx.insert_user(user, self.clock())
            token = self._issue_token(tx, user, "created with the user")
        return user, token

    def create_token(self, name: str, description: str = "") -> str:
        """Issue a new API token for an existing user."""
        with self.store.write() as tx:
            user = tx.user(name)
            if user is None:
                raise NotFound(f"no user named {name}", resource="user")
            return self._issue_token(tx, user, description)

    def _issue_token(self, tx: Transaction, user: User, description: str) -> str:
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + self.token_ttl if self.token_ttl else None
        tx.insert_token(Token(_new_id(), user, description, now, expires), hash_token(secret))
        return secret

    def users(self) -> list[User]:
        """List users."""
        with self.store.read() as tx:
            return tx.users()

    # -- apps -------------------------------------------------------------------------------

    def apps(self, page: Page) -> list[App]:
        """List live apps in the window `page`."""
        with self.store.read() as tx:
            return tx.apps(page)

    def app(self, ident: str) -> App:
        """Return an app by name or id."""
        with self.store.read() as tx:
            return self._app(tx, ident)

    def create(self, name: str, *, by: User, message: str | None = None) -> App:
        """Create an app. No release is made until the first deploy."""
        self._require_message(message)
        rules.check_app_name(name)
        now = self.clock()
        app = App(id=_new_id(), name=name, created_at=now, updated_at=now)
        with self.store.write() as tx:
            if tx.app(name) is not None:
                raise Conflict(f"Name {name} is already taken")
            tx.insert_app(app)
        self._publish("create", by, app.name, f"{by.name} created {app.name}", message)
        return app

    def rename(self, ident: str, new_name: str, *, by: User, message: str | None = None) -> App:
        """Rename an app; its releases, config and domains follow it."""
        self._require_message(message)
        rules.check_app_name(new_name)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            if new_name == app.name:
                return app
            if tx.app(new_name) is not None:
                raise Conflict(f"Name {new_name} is already taken")
            renamed = dataclasses.replace(app, name=new_name, updated_at=self.clock())
            tx.update_app(renamed)
            release = tx.latest_release(app.id)
        text = f"{by.name} renamed {app.name} to {new_name}"
        self._publish("rename", by, new_name, text, message)
        if release is not None:
            self._submit(renamed, dataclasses.replace(release, app_name=new_name))
        return renamed

    def destroy(self, ident: str, *, by: User, message: str | None = None) -> None:
        """Soft-delete an app (its name becomes free) and remove it from the scheduler."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            tx.delete_app(app.id, self.clock())
        self.scheduler.remove(app.id)
        self._publish("destroy", by, app.name, f"{by.name} destroyed {app.name}", message)

    def set_maintenance(
        self, ident: str, enabled: bool, *, by: User, message: str | None = None
    ) -> App:
        """Turn maintenance mode on (no instances run) or off (the stored quantities run)."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            app = dataclasses.replace(app, maintenance=enabled, updated_at=self.clock())
            tx.update_app(app)
            release = tx.latest_release(app.id)
        verb = "enabled" if enabled else "disabled"
        self._publish(
            "maintenance", by, app.name, f"{by.name} {verb} maintenance mode on {app.name}", message
        )
        if release is not None:
            self._submit(app, release)
        return app

    def attach_cert(
        self, ident: str, cert: str, *, process: str = "web", by: User, message: str | None = None
    ) -> App:
        """Attach a certificate to a process; re-submits the current release."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            certs = {**app.certs, process: cert}
            app = dataclasses.replace(app, certs=certs, updated_at=self.clock())
            tx.update_app(app)
            release = tx.latest_release(app.id)
        if release is not None:
            self._submit(app, release)
        return app

    # -- deploys and releases ---------------------------------------------------------------

    def deploy(
        self,
        image: str,
        *,
        app: str | None = None,
        by: User,
        message: str | None = None,
        status: StatusFn | None = None,
    ) -> Release:
        """Deploy an image: resolve it, read its Procfile, record a release and roll it out."""
        self._require_message(message)
        emit = status or (lambda _msg: None)
        ref = ImageRef.parse(image)
        name = app or ref.name
        if app is not None:
            self.app(app)
        else:
            rules.check_app_name(name)
        resolved = self.images.resolve(ref, emit)
        if resolved.has_digest:
            emit({"status": f"Status: Resolved {ref} to {resolved.identity}"})
        else:
            emit(
                {
                    "status": "Status: Image has no repository digests. "
                    f"Using {resolved.identity} as image identifier"
                }
            )
        source = self.images.procfile(resolved.identity)
        if source.path is not None:
            emit({"status": f'Status: Extracted Procfile from "{source.path}"'})
        else:
            cmd = list(source.cmd or ())
            emit({"status": f"Status: Generating Procfile from CMD: {cmd}"})
        processes = procfile.parse(source.content)

        now = self.clock()
        with self.store.write() as tx:
            target = tx.app(name)
            if target is None:
                target = App(id=_new_id(), name=name, created_at=now, updated_at=now)
                target = dataclasses.replace(target, repo=ref.full_repository)
                tx.insert_app(target)
                self._publish("create", by, name, f"{by.name} created {name}", message)
            tx.lock_app(target.id)
            previous = tx.latest_release(target.id)
            config = tx.latest_config(target.id) or self._empty_config(tx, target.id)
            slug = Slug(_new_id(), resolved.identity, source.content)
            tx.insert_slug(slug)
            release = self._new_release(
                tx,
                target,
                slug=slug,
                config=config,
                formation=rules.merge(processes, previous.formation if previous else None),
                description=rules.with_user(f"Deploy {image}", by, message),
                by=by,
                message=message,
            )
        emit({"status": f"Status: Created new release v{release.version} for {name}"})
        self._publish(
            "deploy",
            by,
            name,
            f"{by.name} deployed {image} to {name} (v{release.version})",
            message,
        )
        release = self._submit(target, release, lambda line: emit({"status": line}))
        emit(
            {
                "status": "Status: Finished processing events for release "
                f"v{release.version} of {name}"
            }
        )
        if release.outcome is Outcome.SUCCEEDED:
            emit({"status": f"Status: Release v{release.version} of {name} succeeded"})
        else:
            verdict = "was rolled back" if release.outcome is Outcome.ROLLED_BACK else "failed"
            text = f"release v{release.version} of {name} {verdict}: {release.reason}"
            emit({"errorDetail": {"message": text}, "error": text})
        return release

    def releases(self, ident: str, page: Page) -> list[Release]:
        """List an app's releases in the window `page`."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            return tx.releases(app.id, page)

    def release(self, ident: str, version: str) -> Release:
        """Return one release by version (`3` or `v3`) or id."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            return self._release(tx, app, version)

    def rollback(
        self, ident: str, version: str, *, by: User, message: str | None = None
    ) -> Release:
        """Make a new release from an old one's image, config and formation, and roll it out."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            tx.lock_app(app.id)
            old = self._release(tx, app, version)
            release = self._new_release(
                tx,
                app,
                slug=old.slug,
                config=old.config,
                formation=old.formation,
                description=rules.with_user(f"Rollback to v{old.version}", by, message),
                by=by,
                message=message,
            )
        self._publish(
            "rollback", by, app.name, f"{by.name} rolled back {app.name} to v{old.version}", message
        )
        return self._submit(app, release)

    # -- config -----------------------------------------------------------------------------

    def config(self, ident: str, version: str | None = None) -> dict[str, str]:
        """Return the current config vars, or those of release `version`."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            if version is not None:
                return dict(self._release(tx, app, version).config.vars)
            config = tx.latest_config(app.id)
            return dict(config.vars) if config else {}

    def set_config(
        self,
        ident: str,
        changes: dict[str, str | None],
        *,
        by: User,
        message: str | None = None,
    ) -> dict[str, str]:
        """Merge config changes (None unsets); makes a release when the app has one."""
        self._require_message(message)
        if not changes:
            raise Invalid('no config vars given: send at least one KEY, e.g. {"FOO": "bar"}')
        for key in changes:
            if not rules.CONFIG_KEY.match(key):
                raise Invalid(
                    f"invalid config var name {key!r}: use letters, digits and underscores, "
                    "not starting with a digit"
                )
        with self.store.write() as tx:
            app = self._app(tx, ident)
            tx.lock_app(app.id)
            current = tx.latest_config(app.id)
            merged = dict(current.vars) if current else {}
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            config = Config(_new_id(), app.id, merged, self.clock())
            tx.insert_config(config)
            previous = tx.latest_release(app.id)
            release = None
            if previous is not None:
                release = self._new_release(
                    tx,
                    app,
                    slug=previous.slug,
                    config=config,
                    formation=previous.formation,
                    description=rules.with_user(rules.config_description(changes), by, message),
                    by=by,
                    message=message,
                )
        keys = ", ".join(sorted(changes))
        self._publish(
            "set",
            by,
            app.name,
            f"{by.name} changed environment variables on {app.name} ({keys})",
            message,
        )
        if release is not None:
            self._submit(app, release)
        return merged

    # -- formation --------------------------------------------------------------------------

    def formation(self, ident: str) -> list[Process]:
        """Return the current release's processes, sorted by name."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            release = self._current(tx, app)
        return [release.formation[name] for name in sorted(release.formation)]

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
            app = self._app(tx, ident)
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
                if update.quantity is not None and update.quantity < 0:
                    raise Invalid(f"invalid quantity {update.quantity}: use 0 or more")
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
            self._publish(
                "scale",
                by,
                app.name,
                f"{by.name} scaled `{after.name}` on {app.name} from "
                f"{before.quantity}({_size(before)}) to {after.quantity}({_size(after)})",
                message,
            )
        self._submit(app, release, record=False)
        return [formation[update.process] for update in updates]

    # -- tasks --------------------------------------------------------------------------------

    def tasks(self, ident: str) -> list[Task]:
        """List the app's tasks as the scheduler reports them."""
        app = self.app(ident)
        return self.scheduler.tasks(app.id)

    def restart(
        self, ident: str, process: str | None = None, *, by: User, message: str | None = None
    ) -> None:
        """Restart every instance of the app, or of one process type, rolling."""
        self._require_message(message)
        with self.store.read() as tx:
            app = self._app(tx, ident)
            release = self._current(tx, app)
            domains = self._domain_names(tx, app)
        if process is not None and process not in release.formation:
            raise NotFound(
                f"no process type {process!r} in {app.name} v{release.version}",
                resource="formation",
            )
        self._translate(
            lambda: self.scheduler.restart(manifest.build(app, release, domains), process)
        )
        what = f"`{process}` on {app.name}" if process else app.name
        self._publish("restart", by, app.name, f"{by.name} restarted {what}", message)

    def stop(self, ident: str, task: str, *, by: User, message: str | None = None) -> None:
        """Stop one task; the scheduler replaces it when its process is still scaled up."""
        self._require_message(message)
        app = self.app(ident)
        names = {t.name for t in self.scheduler.tasks(app.id)} | {
            t.id for t in self.scheduler.tasks(app.id)
        }
        if task not in names:
            raise NotFound(f"no task {task!r} in {app.name}: see `emp ps`", resource="dyno")
        self.scheduler.stop(app.id, task)
        self._publish(
            "restart", by, app.name, f"{by.name} restarted `{task}` on {app.name}", message
        )

    def run(self, ident: str, request: RunRequest, *, by: User, message: str | None = None) -> Task:
        """Start a detached one-off task from the current release."""
        self._require_message(message)
        try:
            argv = shlex.split(request.command)
        except ValueError as exc:
            raise Invalid(f"cannot parse command {request.command!r}: {exc}") from exc
        if not argv:
            raise Invalid("no command given: e.g. emp run ./bin/migrate")
        with self.store.read() as tx:
            app = self._app(tx, ident)
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
        built = manifest.build(app, run_release)
        self._publish(
            "run",
            by,
            app.name,
            f"{by.name} started running `{request.command}` (detached) on {app.name}",
            message,
        )
        return self._translate(lambda: self.scheduler.run(built, built.processes[0]))

    def logs(self, ident: str, query: LogQuery) -> Iterator[str]:
        """Yield the app's log lines."""
        app = self.app(ident)
        return self.scheduler.logs(app.id, query)

    # -- domains ----------------------------------------------------------------------------

    def domains(self, ident: str, page: Page) -> list[Domain]:
        """List an app's domains."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            return tx.domains(app.id, page)

    def domain(self, ident: str, hostname: str) -> Domain:
        """Return one of the app's domains by hostname or id."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            domain = tx.domain(hostname)
        if domain is None or domain.app_id != app.id:
            raise NotFound(f"{hostname} is not a domain of {app.name}", resource="domain")
        return domain

    def add_domain(
        self, ident: str, hostname: str, *, by: User, message: str | None = None
    ) -> Domain:
        """Route a hostname to the app; the app becomes public."""
        self._require_message(message)
        hostname = hostname.strip().lower().rstrip(".")
        rules.check_hostname(hostname)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            existing = tx.domain(hostname)
            if existing is not None:
                if existing.app_id == app.id:
                    raise Conflict(f"{hostname} is already added to this app.")
                raise Conflict(f"{hostname} is currently in use by another app.")
            domain = Domain(_new_id(), app.id, hostname, self.clock())
            tx.insert_domain(domain)
            app = self._set_exposure(tx, app, Exposure.PUBLIC)
            release = tx.latest_release(app.id)
        self._publish("domain", by, app.name, f"{by.name} added {hostname} to {app.name}", message)
        if release is not None:
            self._submit(app, release, record=False)
        return domain

    def remove_domain(
        self, ident: str, hostname: str, *, by: User, message: str | None = None
    ) -> None:
        """Stop routing a hostname to the app; with no domain left it becomes internal."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app(tx, ident)
            domain = tx.domain(hostname.strip().lower())
            if domain is None or domain.app_id != app.id:
                raise NotFound(
                    f"Couldn't find that domain name: {hostname} is not a domain of {app.name}",
                    resource="domain",
                )
            tx.delete_domain(domain.id)
            if tx.count_domains(app.id) == 0:
                app = self._set_exposure(tx, app, Exposure.PRIVATE)
            release = tx.latest_release(app.id)
        self._publish(
            "domain", by, app.name, f"{by.name} removed {hostname} from {app.name}", message
        )
        if release is not None:
            self._submit(app, release, record=False)

    # -- operations ---------------------------------------------------------------------------

    def check(self) -> None:
        """Raise Unavailable unless the store is reachable at the expected schema."""
        self.store.check()

    def reconcile(self) -> int:
        """Resubmit every app's current release; return how many were submitted."""
        with self.store.read() as tx:
            pairs = [(tx.app(r.app_id), r) for r in tx.current_releases()]
        count = 0
        for app, release in pairs:
            if app is not None:
                self._submit(app, release, record=False)
                count += 1
        return count

    # -- helpers ------------------------------------------------------------------------------

    def _require_message(self, message: str | None) -> None:
        if self.messages_required and not (message and message.strip()):
            raise MessageRequired()

    def _app(self, tx: Transaction, ident: str) -> App:
        app = tx.app(ident)
        if app is None:
            raise NotFound(f"Couldn't find that app: no app named {ident}", resource="app")
        return app

    def _release(self, tx: Transaction, app: App, version: str) -> Release:
        ident = version[1:] if version[:1] in "vV" and version[1:].isdigit() else version
        release = tx.release(app.id, ident)
        if release is None:
            raise NotFound(
                f"Couldn't find that release: {app.name} has no release {version}",
                resource="release",
            )
        return release

    def _current(self, tx: Transaction, app: App) -> Release:
        release = tx.latest_release(app.id)
        if release is None:
            raise NotFound(
                f"{app.name} has no release yet: deploy an image first (emp deploy IMAGE)",
                resource="release",
            )
        return release

    def _empty_config(self, tx: Transaction, app_id: str) -> Config:
        config = Config(_new_id(), app_id, {}, self.clock())
        tx.insert_config(config)
        return config

    def _new_release(
        self,
        tx: Transaction,
        app: App,
        *,
        slug: Slug,
        config: Config,
        formation: dict[str, Process],
        description: str,
        by: User,
        message: str | None,
    ) -> Release:
        now = self.clock()
        release = Release(
            id=_new_id(),
            app_id=app.id,
            app_name=app.name,
            version=tx.next_version(app.id),
            slug=slug,
            config=config,
            formation=formation,
            description=description,
            created_at=now,
            updated_at=now,
            user=by,
            message=message,
        )
        tx.insert_release(release)
        return release

    def _set_exposure(self, tx: Transaction, app: App, exposure: Exposure) -> App:
        if app.exposure == exposure:
            return app
        app = dataclasses.replace(app, exposure=exposure, updated_at=self.clock())
        tx.update_app(app)
        return app

    def _domain_names(self, tx: Transaction, app: App) -> tuple[str, ...]:
        return tuple(d.hostname for d in tx.domains(app.id, Page(field="hostname", max=1000)))

    def _submit(
        self,
        app: App,
        release: Release,
        status: Callable[[str], None] | None = None,
        *,
        record: bool = True,
    ) -> Release:
        """Submit the release and, when `record`, store the rollout's outcome on it."""
        with self.store.read() as tx:
            domains = self._domain_names(tx, app)
        try:
            verdict = self.scheduler.submit(manifest.build(app, release, domains), status)
        except EmpireError as exc:
            verdict = Verdict(Outcome.FAILED, str(exc))
        if not record:
            return release
        with self.store.write() as tx:
            tx.set_outcome(release.id, verdict.outcome, verdict.reason, self.clock())
        return dataclasses.replace(release, outcome=verdict.outcome, reason=verdict.reason)

    def _translate(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except EmpireError:
            raise
        except Exception as exc:  # a backend that leaked a vendor error
            raise SchedulerError(f"the scheduler failed: {exc}") from exc

    def _publish(
        self, kind: str, by: User, app: str | None, text: str, message: str | None
    ) -> None:
        self.events.publish(Event(kind, by.name, app, text, message, self.clock()))


def _size(process: Process) -> str:
    return sizes.render(process.size or sizes.DEFAULT)
