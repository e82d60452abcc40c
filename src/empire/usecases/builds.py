"""Builds from source: check the context, build it (one build per app at a time), deploy it.

A build is recorded pending before the builder starts, and ends succeeded (an image was made;
the deploy use case then releases it like any image, the release's description naming the
commit or the build) or failed (no image kept, no release made). The builder is a port
(`empire.builds.Builder`): the Docker engine's classic builder, or a fake in tests.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterator

from empire.builds import (
    Build,
    Builder,
    BuildEvent,
    BuildLimits,
    BuildOutput,
    BuildSpec,
    BuildStarted,
    BuildStatus,
    Output,
)
from empire.builds import context as contexts
from empire.errors import EmpireError, Invalid, NotFound, NotSupported
from empire.model import App, Outcome, Role, User
from empire.progress import Event, Failed, Status
from empire.usecases.base import new_id, store_reads
from empire.usecases.releases import Releases

BuildProgressFn = Callable[[Event | BuildEvent], None]
KEEP_IMAGES = 10  # build images kept per app (the newest succeeded builds'): older are pruned
LIST_LIMIT = 100
COMMIT = re.compile(r"^[0-9a-f]{7,64}$")


class Builds(Releases):
    """Build an app from source and release it; read its builds back."""

    builder: Builder | None = None
    build_limits: BuildLimits = BuildLimits()

    def use_builder(self, builder: Builder, limits: BuildLimits) -> None:
        """Enable builds (the composition root calls it)."""
        self.builder = builder
        self.build_limits = limits
        self._build_locks: dict[str, threading.Lock] = {}
        self._build_guard = threading.Lock()
        self._live: dict[str, Output] = {}

    def build(
        self,
        ident: str,
        source: bytes,
        *,
        by: User,
        message: str | None = None,
        commit: str = "",
        subject: str = "",
        progress: BuildProgressFn | None = None,
    ) -> Build:
        """Build `source` (a tar or tar.gz with a Dockerfile at its root) and deploy the image.

        Needs the deployer role on an existing app. A bad context is refused (Invalid) before
        anything is recorded; from BuildStarted on, the build's output and then the deploy's
        events go to `progress`, and a failure is a Failed event and a failed build, never an
        exception. Builds of one app wait for each other, in turn.
        """
        self._require_message(message)
        builder = self.builder
        if builder is None:
            raise NotSupported("builds are not enabled on this server (no builder)")
        if commit and not COMMIT.match(commit):
            raise Invalid(f"invalid commit {commit!r}: use a hexadecimal git commit id")
        emit: BuildProgressFn = progress or (lambda _event: None)
        app = self._find_as(ident, by, Role.DEPLOYER, "building")
        checked = contexts.check(source, self.build_limits.max_source)
        now = self.clock()
        build = Build(
            id=new_id(),
            app_id=app.id,
            app_name=app.name,
            status=BuildStatus.PENDING,
            created_at=now,
            updated_at=now,
            user_id=by.id,
            user_name=by.name,
            commit=commit,
            checksum=checked.checksum,
            source_bytes=checked.size,
        )
        with self.store.write() as tx:
            self._app_as(tx, app.id, by, Role.DEPLOYER, "building")
            tx.insert_build(build)
        emit(BuildStarted(build.id, app.name))
        output = Output(lambda line: emit(_output(line)))
        self._live[build.id] = output
        try:
            with self._build_lock(app.id, lambda: emit(Status(_waiting(app.name)))):
                return self._run(builder, build, checked.tar, output, emit, by, message, subject)
        finally:
            output.finish()
            self._live.pop(build.id, None)

    @store_reads
    def authorize_push(self, ident: str, *, by: User) -> App:
        """Check `by` may push to the app's git repository (deployer role); return the app."""
        with self.store.read() as tx:
            return self._app_as(tx, ident, by, Role.DEPLOYER, "pushing")

    @store_reads
    def builds(self, ident: str, *, by: User) -> list[Build]:
        """The app's newest builds (at most 100), newest first."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "listing builds")
            return tx.builds(app.id, app.name, LIST_LIMIT)

    @store_reads
    def build_info(self, ident: str, build: str, *, by: User) -> Build:
        """One build of the app, by id or commit; a pending build with its output so far."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "viewing a build")
            found = tx.build(app.id, app.name, build)
        if found is None:
            raise NotFound(f"no build {build} of {app.name}", resource="build")
        live = self._live_output(found.id)
        if found.status is BuildStatus.PENDING and live is not None:
            found = dataclasses.replace(found, output=live.text())
        return found

    def follow_build(self, ident: str, build: str, *, by: User) -> Iterator[str]:
        """The build's output lines: those to come too while it runs on this server (""
        now and then while none comes), else what was kept. Checks the viewer role at once."""
        found = self.build_info(ident, build, by=by)
        live = self._live_output(found.id)
        if found.status is BuildStatus.PENDING and live is not None:
            return live.follow()
        return iter(found.output.splitlines())

    # -- internals ---------------------------------------------------------------------------

    def _live_output(self, build_id: str) -> Output | None:
        """The output of a build running on this server (None: ended, elsewhere, no builds)."""
        live: dict[str, Output] = getattr(self, "_live", {})
        return live.get(build_id)

    def _run(
        self,
        builder: Builder,
        build: Build,
        tar: bytes,
        output: Output,
        emit: BuildProgressFn,
        by: User,
        message: str | None,
        subject: str,
    ) -> Build:
        tag = f"{build.app_name}:{_version(build)}"
        spec = BuildSpec(build.app_name, build.id, tag, tar, self.build_limits)
        emit(Status(f"Building {build.app_name} ({_what(build)}) as {tag}"))
        try:
            image = builder.build(spec, output.line)
        except EmpireError as exc:
            reason = exc.message
            output.finish()
            emit(Failed(reason))
            self._prune(builder, build)
            return self._finish(build, BuildStatus.FAILED, output, reason=reason)
        output.finish()
        emit(Status(f"Built {image}"))
        build = self._finish(build, BuildStatus.SUCCEEDED, output, image=image)
        if build.commit:
            description = f"Deploy {build.commit[:7]}" + (f": {subject}" if subject else "")
        else:
            description = f"Deploy build {build.id[:8]}"
        try:
            release = self.deploy(
                image,
                app=build.app_id,
                by=by,
                message=message,
                progress=emit,
                description=_one_line(description),
            )
        except EmpireError as exc:  # refused before any release (a bad Procfile, say)
            reason = f"the image was built but not released: {exc.message}"
            emit(Failed(reason))
            build = dataclasses.replace(build, image="")
            self._prune(builder, build)
            return self._finish(build, BuildStatus.FAILED, output, reason=reason)
        build = dataclasses.replace(build, release_id=release.id, release_version=release.version)
        reason = "" if release.outcome is Outcome.SUCCEEDED else release.reason
        build = self._finish(build, BuildStatus.SUCCEEDED, output, reason=reason)
        self._prune(builder, build)
        return build

    def _finish(
        self,
        build: Build,
        status: BuildStatus,
        output: Output,
        *,
        image: str | None = None,
        reason: str = "",
    ) -> Build:
        build = dataclasses.replace(
            build,
            status=status,
            image=build.image if image is None else image,
            output=output.text(),
            reason=reason,
            updated_at=self.clock(),
        )
        with self.store.write() as tx:
            tx.update_build(build)
        return build

    def _prune(self, builder: Builder, build: Build) -> None:
        """Remove the app's build images but those of its newest succeeded builds."""
        with self.store.read() as tx:
            recent = tx.builds(build.app_id, build.app_name, LIST_LIMIT)
        keep = [_version(b) for b in recent if b.status is BuildStatus.SUCCEEDED and b.image]
        builder.prune(build.app_name, set(keep[:KEEP_IMAGES]))

    def _build_lock(self, app_id: str, waiting: Callable[[], None]) -> _Turn:
        with self._build_guard:
            lock = self._build_locks.setdefault(app_id, threading.Lock())
        return _Turn(lock, waiting)


class _Turn:
    """A build's turn on its app: says it waits when another build holds it."""

    def __init__(self, lock: threading.Lock, waiting: Callable[[], None]) -> None:
        self.lock = lock
        self.waiting = waiting

    def __enter__(self) -> None:
        if not self.lock.acquire(blocking=False):
            self.waiting()
            self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _output(line: str) -> BuildEvent:
    return BuildOutput(line)


def _waiting(app: str) -> str:
    return f"Waiting for the build in progress on {app} to finish"


def _version(build: Build) -> str:
    """The version part of a build's tag: its short commit, else its id's first 8."""
    return build.commit[:7] if build.commit else build.id[:8]


def _what(build: Build) -> str:
    return f"commit {build.commit[:7]}" if build.commit else f"build {build.id[:8]}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line[:200]
