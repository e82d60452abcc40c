"""The facade's shared state and helpers; each use-case group is a mixin on top."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

from empire import manifest, sizes
from empire.applog import AppLog
from empire.applogs.memory import MemoryAppLog
from empire.errors import (
    EmpireError,
    MessageRequired,
    NotFound,
    SchedulerError,
)
from empire.events import REQUEST_ID, Event, EventSink, NullSink, record
from empire.failpoints import OFF, Failpoints
from empire.images import Images
from empire.model import (
    App,
    Clock,
    Config,
    Exposure,
    Outcome,
    Page,
    Process,
    Release,
    Slug,
    Token,
    User,
    utcnow,
)
from empire.scheduler import Scheduler, StatusFn, Verdict
from empire.store import Store, Transaction

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_SIZE = 10_000  # tokens that exist; those that do not get a tenth of that
PHASE_LINES = 200  # lines of a release phase's output kept on its release
PHASE_LINE = 2000  # characters of one of them
PHASE_TAIL = 5  # of them in the reason of a release that failed its phase


F = TypeVar("F", bound=Callable[..., Any])
STORE_READS = "__empire_store_reads__"


def store_reads(use_case: F) -> F:
    """Mark a use case that only reads the store: no write, no scheduler, no images, no other
    blocking I/O. Only these may run on the API's event loop (`Empire.read`)."""
    setattr(use_case, STORE_READS, True)
    return use_case


def new_id() -> str:
    return str(uuid.uuid4())


INTERRUPTED = (
    "the release phase was interrupted (Empire stopped while it ran), so no process of this "
    "release started: deploy again"
)


def phase_failure(release: Release) -> str | None:
    """Why a release whose release phase already ran (or began) must not roll out; None when
    it passed or has not run. A phase runs once: a release submitted again (maintenance, a
    rename, a certificate, the reconciler) never runs it twice."""
    if release.phase == "running":
        return INTERRUPTED
    if release.phase == "failed":
        return _with_last_lines("the release phase failed", release.phase_output.splitlines())
    return None


def _with_last_lines(why: str, lines: list[str]) -> str:
    """`why`, then the last PHASE_TAIL of a release phase's `lines` (200 characters each)."""
    tail = lines[-PHASE_TAIL:]
    return why + ("; its last lines: " + " | ".join(t[:200] for t in tail) if tail else "")


def hash_token(token: str, key: str | None = None) -> str:
    """Return the digest a token is stored as: HMAC-SHA256 under the secret key.

    Without a key (tests that build the facade bare, the rate limiter's bucket names) it is
    plain SHA-256. A different key gives different digests: rotating EMPIRE_SECRET_KEY
    invalidates every token.
    """
    if key is None:
        return hashlib.sha256(token.encode()).hexdigest()
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def no_release(app: App) -> NotFound:
    """The error for an app that was never deployed."""
    return NotFound(
        f"{app.name} has no release yet: deploy an image first (emp deploy IMAGE)",
        resource="release",
    )


class Base:
    """State and helpers every use case shares."""

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
        failpoints: Failpoints = OFF,
        secret_key: str | None = None,
        token_cache_size: int = TOKEN_CACHE_SIZE,
        release_timeout: float = 3600.0,
        applog: AppLog | None = None,
    ) -> None:
        self.store = store
        # The platform's lines in each app's log (`api`, process states, `router`).
        self.applog: AppLog = applog or MemoryAppLog()
        self.release_timeout = release_timeout  # seconds a release phase may run
        self.scheduler = scheduler
        self.images = images
        self.events = events or NullSink()
        self.clock = clock
        self.messages_required = messages_required
        self.token_ttl = token_ttl
        self.failpoints = failpoints
        self._token_key = secret_key  # tokens are stored as HMACs under it
        # A short cache of token lookups: authentication runs on every request. Bounded, and
        # tokens that do not exist kept apart, so random tokens cost bounded memory and never
        # push out the tokens people use.
        self._tokens: Lru[str, tuple[float, Token]] = Lru(token_cache_size)
        self._unknown_tokens: Lru[str, float] = Lru(max(1, token_cache_size // 10))
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._discarded: set[str] = set()  # images already removed from the engine
        self._submitted_at: dict[str, float] = {}  # app id -> monotonic time of its last submit

    # -- helpers ------------------------------------------------------------------------------

    def _require_message(self, message: str | None) -> None:
        if self.messages_required and not (message and message.strip()):
            raise MessageRequired()

    def _find(self, ident: str) -> App:
        with self.store.read() as tx:
            return self._app(tx, ident)

    def _app(self, tx: Transaction, ident: str) -> App:
        app = tx.app(ident)
        if app is None:
            raise NotFound(f"Couldn't find that app: no app named {ident}", resource="app")
        return app

    def _release(self, tx: Transaction, app: App, version: str) -> Release:
        ident = version[1:] if re.fullmatch(r"[vV][0-9]+", version) else version
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
            raise no_release(app)
        return release

    def _empty_config(self, tx: Transaction, app_id: str) -> Config:
        config = Config(new_id(), app_id, {}, self.clock())
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
            id=new_id(),
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
            current=True,
        )
        tx.insert_release(release)
        return release

    def _set_exposure(self, tx: Transaction, app: App, exposure: Exposure) -> App:
        """Make the app public or internal (the caller holds `lock_domains`)."""
        if app.exposure == exposure:
            return app
        tx.set_exposure(app.id, exposure)
        return dataclasses.replace(app, exposure=exposure)

    def _domain_names(self, tx: Transaction, app: App) -> tuple[str, ...]:
        return tuple(d.hostname for d in tx.domains(app.id, Page(field="hostname", max=1000)))

    def _submit(
        self,
        app: App,
        release: Release,
        status: StatusFn | None = None,
        *,
        record: bool = True,
        phase_output: Callable[[str], None] | None = None,
    ) -> Release:
        """Roll out the app's current state from the store; record the outcome on `release`.

        Under the app's lock the store is read again, so what is submitted is always the newest
        release with the app's current formation, maintenance and domains. A release that a
        newer one superseded before its turn is not rolled out at all.

        The release first runs its release phase, when the Procfile has one and it has not
        run yet (`_release_phase`): no process of the release starts unless it exited 0. With
        `record`, the outcome is stored on the release before the app's lock is let go, so the
        reconciler never sees a release between its phase and its verdict.
        """
        self.failpoints.hit("after-commit")
        with self._lock_for(app.id):
            with self.store.read() as tx:
                current = tx.app(app.id)
                latest = tx.latest_release(app.id)
                domains = self._domain_names(tx, app)
            if current is None or latest is None:
                verdict = Verdict(Outcome.FAILED, f"{app.name} was destroyed before the rollout")
            elif latest.version != release.version:
                verdict = Verdict(
                    Outcome.FAILED, f"superseded by v{latest.version} before it was rolled out"
                )
            else:
                failure = (
                    self._release_phase(current, latest, status, phase_output) if record else None
                )
                if failure is not None:
                    verdict = Verdict(Outcome.FAILED, failure)
                else:
                    verdict = self._roll_out(current, latest, domains, status)
            if not record:
                return release
            return self._record(release, verdict)

    def _release_phase(
        self,
        app: App,
        release: Release,
        status: StatusFn | None,
        output: Callable[[str], None] | None,
    ) -> str | None:
        """Run the release's release phase, if it has one; None when it exited 0 (or there is
        none), else why the release fails. Its output goes to `output` as it comes and its last
        lines are kept on the release (`phase_output`). A release whose phase already passed
        (submitted again: maintenance, a rename, a certificate) does not run it again."""
        built = manifest.phase(app, release)
        if built is None or release.phase == "succeeded":
            return None
        done = phase_failure(release)  # it ran (or began) before: never twice
        if done is not None:
            return done
        process = built.processes[0]
        say = status or (lambda _line: None)
        say(f"Status: release phase: running `{process.shown}`")
        with self.store.write() as tx:
            tx.set_phase(release.id, "running", "", self.clock())
        kept: collections.deque[str] = collections.deque(maxlen=PHASE_LINES)

        def line(text: str) -> None:
            kept.append(text[:PHASE_LINE])
            if output is not None:
                output(text)

        try:
            result = self.scheduler.release_phase(
                built, process, timeout=self.release_timeout, output=line
            )
            code, error = result.exit_code, ""
        except EmpireError as exc:
            code, error = -1, str(exc)
        text = "\n".join(kept)
        passed = code == 0 and not error
        with self.store.write() as tx:
            tx.set_phase(release.id, "succeeded" if passed else "failed", text, self.clock())
        if passed:
            say("Status: release phase: succeeded")
            return None
        if error:
            why = f"the release phase could not run: {error}"
        elif code is None:
            why = (
                f"the release phase was still running after {self.release_timeout:g}s "
                "(EMPIRE_RELEASE_TIMEOUT) and was stopped"
            )
        else:
            why = f"the release phase exited with code {code}"
        why = _with_last_lines(why, list(kept))
        say(f"Status: {why}")
        return why

    def _roll_out(
        self,
        app: App,
        release: Release,
        domains: tuple[str, ...],
        status: StatusFn | None = None,
    ) -> Verdict:
        """Submit one app's state (the caller holds its lock) and note when it was done."""
        try:
            verdict = self.scheduler.submit(manifest.build(app, release, domains), status)
        except EmpireError as exc:
            verdict = Verdict(Outcome.FAILED, str(exc))
        self._submitted_at[app.id] = time.monotonic()
        return verdict

    def _record(self, release: Release, verdict: Verdict) -> Release:
        """Store a rollout's verdict on its release."""
        with self.store.write() as tx:
            tx.set_outcome(release.id, verdict.outcome, verdict.reason, self.clock())
        live = verdict.outcome in (Outcome.PENDING, Outcome.SUCCEEDED)
        return dataclasses.replace(
            release, outcome=verdict.outcome, reason=verdict.reason, current=live
        )

    def _lock_for(self, app_id: str) -> threading.Lock:
        """Return the lock that serializes rollouts of one app in this process."""
        with self._locks_guard:
            return self._locks.setdefault(app_id, threading.Lock())

    def _translate(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except EmpireError:
            raise
        except Exception as exc:  # a backend that leaked a vendor error
            raise SchedulerError(f"the scheduler failed: {exc}") from exc

    def _digest(self, token: str) -> str:
        """Return the digest the token is stored as."""
        return hash_token(token, self._token_key)

    def _publish(
        self,
        kind: str,
        by: User,
        app: App | str | None,
        text: str,
        message: str | None,
        data: dict[str, object] | None = None,
        *,
        tx: Transaction | None = None,
        app_id: str | None = None,
    ) -> None:
        """Publish an event about `app` (None: about no app); `data` names what changed, never
        config values. The event carries the app's id (its audit trail is read by id: give
        `app_id` with a bare name) and its name.

        Given the write's transaction, the audit trail keeps the event in it (with the write, or
        not at all) and the other sinks get it after the commit; else in a transaction of its own.
        """
        request_id = REQUEST_ID.get()
        event = Event(
            kind,
            by.name,
            app.name if isinstance(app, App) else app,
            text,
            message,
            self.clock(),
            dict(data or {}),
            # The column holds 64 characters; the gate accepts longer ids from clients.
            request_id[:64] if request_id else None,
            app_id=app.id if isinstance(app, App) else app_id,
        )
        if tx is None:
            self.events.publish(event)
        else:
            record(self.events, tx, event)


class Lru(Generic[K, V]):
    """A mapping of at most `size` entries that drops the least recently used; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def size_text(process: Process) -> str:
    return sizes.render(process.size or sizes.DEFAULT)
