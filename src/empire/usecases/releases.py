"""Deploys, releases, rollbacks and config vars: everything that makes a release."""

from __future__ import annotations

import dataclasses

from empire import formation as rules
from empire import procfile
from empire.errors import (
    Invalid,
)
from empire.images import ImageRef
from empire.model import (
    App,
    Config,
    Outcome,
    Page,
    Release,
    ReleaseSummary,
    Role,
    Slug,
    User,
)
from empire.progress import (
    Failed,
    PhaseOutput,
    ProgressFn,
    Pulled,
    ReleaseCreated,
    Status,
    status_line,
)
from empire.usecases.access import Access, check_role, unknown_app
from empire.usecases.base import new_id, store_reads


class Releases(Access):
    """Make releases and read them back."""

    # -- deploys and releases ---------------------------------------------------------------

    def deploy(
        self,
        image: str,
        *,
        app: str | None = None,
        by: User,
        message: str | None = None,
        progress: ProgressFn | None = None,
        stream: bool = False,
        description: str | None = None,
    ) -> Release:
        """Deploy an image: resolve it, read its Procfile, record a release and roll it out.

        Each step is reported to `progress` as a typed event (`empire.progress`): the image
        engine's pull messages, Status sentences, ReleaseCreated once the release is committed,
        and Failed when the rollout ends without a healthy release. `stream` adds the
        scheduler's own rollout lines (Empire's `deploy -s`); `description` replaces the
        release's `Deploy IMAGE` (a build names its commit). Deploying needs the deployer role
        on an existing app; a deploy that creates the app makes `by` its admin.
        """
        self._require_message(message)
        emit: ProgressFn = progress or (lambda _event: None)
        ref = ImageRef.parse(image)
        name = app or ref.name
        if app is not None:
            self._find_as(app, by, Role.DEPLOYER, "deploying")
        else:
            rules.check_app_name(name)
            if not by.admin:  # refuse before pulling anything
                with self.store.read() as tx:
                    existing = tx.app(name)
                    if existing is not None:
                        self._authorize(tx, by, existing, Role.DEPLOYER, "deploying")
        resolved = self.images.resolve(ref, lambda message: emit(Pulled(message)))
        if resolved.has_digest:
            emit(Status(f"Resolved {ref} to {resolved.identity}"))
        else:
            emit(
                Status(
                    "Image has no repository digests. "
                    f"Using {resolved.identity} as image identifier"
                )
            )
        source = self.images.procfile(resolved.identity)
        if source.path is not None:
            emit(Status(f'Extracted Procfile from "{source.path}"'))
        else:
            emit(Status(f"Generating Procfile from CMD: {list(source.cmd or ())}"))
        processes = procfile.parse(source.content)

        now = self.clock()
        created = False
        with self.store.write() as tx:
            target = tx.app(name)
            if target is None:
                if app is not None:  # destroyed since it was found
                    raise unknown_app(app)
                target = App(id=new_id(), name=name, created_at=now, updated_at=now)
                target = dataclasses.replace(target, repo=ref.full_repository)
                tx.insert_app(target)
                self._grant_creator(tx, target, by)
                created = True
            else:
                self._authorize(tx, by, target, Role.DEPLOYER, "deploying", ident=name)
            tx.lock_app(target.id)
            previous = tx.latest_release(target.id)
            config = tx.latest_config(target.id) or self._empty_config(tx, target.id)
            slug = Slug(new_id(), resolved.identity, source.content)
            tx.insert_slug(slug)
            release = self._new_release(
                tx,
                target,
                slug=slug,
                config=config,
                formation=rules.merge(processes, previous.formation if previous else None),
                description=rules.with_user(description or f"Deploy {image}", by, message),
                by=by,
                message=message,
            )
            name = target.name  # `app` may have been the app's id
            if created:
                self._publish("create", by, target, f"{by.name} created {name}", message, tx=tx)
            text = f"{by.name} deployed {image} to {name} (v{release.version})"
            data = {"release": release.version, "summary": f"Deploy {image}"}
            self._publish("deploy", by, target, text, message, data, tx=tx)
            self.failpoints.hit("before-commit")
        emit(ReleaseCreated(release.version, name))
        lines = (lambda line: emit(status_line(line))) if stream else None
        release = self._submit(
            target, release, lines, phase_output=lambda line: emit(PhaseOutput(line))
        )
        emit(Status(f"Finished processing events for release v{release.version} of {name}"))
        if release.outcome is Outcome.SUCCEEDED:
            emit(Status(f"Release v{release.version} of {name} succeeded"))
        else:
            verdict = "was rolled back" if release.outcome is Outcome.ROLLED_BACK else "failed"
            emit(Failed(f"release v{release.version} of {name} {verdict}: {release.reason}"))
        return release

    @store_reads
    def releases(self, ident: str, page: Page, *, by: User) -> list[ReleaseSummary]:
        """List an app's releases in the window `page`."""
        action = "listing releases"
        with self.store.read() as tx:
            # One query: the releases come with the caller's role on their app.
            summaries, role = tx.app_releases(ident, page, role_of=None if by.admin else by.id)
            if not summaries:  # no app, or an app with none in this window: which one?
                self._app_as(tx, ident, by, Role.VIEWER, action)
                return []
        if not by.admin:
            check_role(by, summaries[0].app_name, role, Role.VIEWER, action, ident)
        return summaries

    @store_reads
    def release(self, ident: str, version: str, *, by: User) -> Release:
        """Return one release by version (`3` or `v3`) or id."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "viewing a release")
            return self._release(tx, app, version)

    def rollback(
        self, ident: str, version: str, *, by: User, message: str | None = None
    ) -> Release:
        """Make a new release from an old one's image, config and formation, and roll it out."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "rolling back")
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
            text = f"{by.name} rolled back {app.name} to v{old.version}"
            data = {"release": release.version, "summary": f"Rollback to v{old.version}"}
            self._publish("rollback", by, app, text, message, data, tx=tx)
        return self._submit(app, release)

    # -- config -----------------------------------------------------------------------------

    @store_reads
    def config(self, ident: str, version: str | None = None, *, by: User) -> dict[str, str]:
        """Return the current config vars, or those of release `version` (deployers and up:
        config vars hold secrets)."""
        action = "reading config vars"
        with self.store.read() as tx:
            if version is not None:
                app = self._app_as(tx, ident, by, Role.DEPLOYER, action)
                return dict(self._release(tx, app, version).config.vars)
            view = self._view_as(tx, ident, by, Role.DEPLOYER, action, config=True)
        return view.config or {}

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
            value = changes[key]
            if value is not None and "\x00" in value:  # never repeat the value: it is a secret
                raise Invalid(
                    f"config var {key} contains a NUL character (\\u0000): "
                    "no process environment can hold one"
                )
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "changing config vars")
            tx.lock_app(app.id)
            previous = tx.latest_release(app.id)
            # The current config is the current release's, or before any the newest one set.
            current = previous.config if previous else tx.latest_config(app.id)
            merged = dict(current.vars) if current else {}
            for key, value in changes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            config = Config(new_id(), app.id, merged, self.clock())
            tx.insert_config(config)
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
            text = f"{by.name} changed environment variables on {app.name} ({keys})"
            data: dict[str, object] = {}
            if release is not None:  # names only, never values
                data = {"release": release.version, "summary": rules.config_description(changes)}
            self._publish("set", by, app, text, message, data, tx=tx)
        if release is not None:
            self._submit(app, release)
        return merged
