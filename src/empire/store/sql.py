"""SqlStore: the store on SQLAlchemy Core, for SQLite (WAL, embedded) and PostgreSQL.

Writes to one app are serialized: SQLite takes the single write lock at BEGIN IMMEDIATE,
PostgreSQL locks the app's row (`lock_app`). `UNIQUE(app_id, version)` is the backstop.
"""

from __future__ import annotations

import dataclasses
import re
import select as select_module
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    literal,
    select,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from empire.errors import Conflict, Unavailable
from empire.events import Event
from empire.model import (
    App,
    Config,
    Domain,
    Exposure,
    Formation,
    HealthCheck,
    Outcome,
    Page,
    Port,
    Process,
    Release,
    ReleaseSummary,
    Size,
    Slug,
    Token,
    User,
)
from empire.secrets import Cipher
from empire.store import tables as t
from empire.store.sql_access import AccessQueries
from empire.store.sql_deliveries import DeliveriesMixin


def connect(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and explicit BEGIN handling."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    _configure_postgres(engine)
    return engine


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        # A cheaper pre-ping: an idle connection whose socket is readable was closed by the
        # server (it restarted, or ended the session). Checking costs a poll, not a round trip;
        # raising DisconnectionError makes the pool replace the connection.
        if dbapi_conn.closed or _readable(dbapi_conn.pgconn.socket):
            raise DisconnectionError("the database closed this connection")


def _readable(fd: int) -> bool:
    poller = select_module.poll()
    poller.register(fd, select_module.POLLIN | select_module.POLLERR | select_module.POLLHUP)
    return bool(poller.poll(0))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock early.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("empire_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class SqlStore:
    """The Store over an SQLAlchemy engine."""

    def __init__(
        self,
        engine: Engine,
        *,
        expected_revision: str | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        self.engine = engine
        self.expected_revision = expected_revision
        self.cipher = cipher  # config vars are encrypted at rest when set
        self._postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with self._transaction(write=False) as tx:
            yield tx

    @contextmanager
    def write(self) -> Iterator[SqlTransaction]:
        with self._transaction(write=True) as tx:
            yield tx

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[SqlTransaction]:
        tx = None
        try:
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(empire_write=True)
                elif self._postgres:
                    # Reads run at READ COMMITTED, where each statement takes its own snapshot
                    # whether or not it is in a transaction: without one they save the BEGIN
                    # and COMMIT round trips.
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                with conn.begin():
                    tx = SqlTransaction(conn, postgres=self._postgres, cipher=self.cipher)
                    yield tx
        except OperationalError as exc:
            raise Unavailable(_unavailable(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable(_unavailable(exc)) from exc
            raise
        for callback in tx.committed:  # committed, and the connection is back in the pool
            callback()

    def rotate_config_keys(self) -> int:
        """Re-encrypt every stored config with the newest key; return how many rows."""
        assert self.cipher is not None, "rotation needs EMPIRE_ENCRYPTION_KEY"
        count = 0
        with self.engine.connect().execution_options(empire_write=True) as conn, conn.begin():
            for config_id, stored in conn.execute(select(t.configs.c.id, t.configs.c.vars)):
                rotated = self.cipher.rotate(stored)
                conn.execute(
                    t.configs.update().where(t.configs.c.id == config_id).values(vars=rotated)
                )
                count += 1
        return count

    def check(self) -> None:
        """Raise Unavailable unless the database answers at the expected schema revision."""
        try:
            with self.engine.connect() as conn:
                revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DBAPIError as exc:
            raise Unavailable(_unavailable(exc)) from exc
        if self.expected_revision and revision != self.expected_revision:
            raise Unavailable(
                f"expected database schema to be at revision {self.expected_revision}, "
                f"but it is at {revision}: run `empire migrate`"
            )


def _unavailable(exc: DBAPIError) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return f"the database is unavailable ({reason}); try again shortly"


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now_utc(value: datetime) -> datetime:
    result = _utc(value)
    assert result is not None
    return result


class SqlTransaction(AccessQueries, DeliveriesMixin):
    """One database transaction; every method is a query or a statement."""

    def __init__(self, conn: Connection, *, postgres: bool, cipher: Cipher | None = None) -> None:
        self.conn = conn
        self.postgres = postgres
        self.cipher = cipher
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed.append(callback)

    def _stored_vars(self, values: dict[str, str]) -> dict[str, str]:
        return self.cipher.encrypt(values) if self.cipher else values

    def _vars(self, stored: Any) -> dict[str, str]:
        return self.cipher.decrypt(stored) if self.cipher else dict(stored or {})

    def _release(self, m: Any) -> Release:
        return _release(m, self._vars(m["config_vars"]))

    # -- apps ---------------------------------------------------------------------------------

    def app(self, ident: str) -> App | None:
        # Names are at most 30 characters (formation.APP_NAME), ids are 36: one query either way.
        query = _APP_BY_ID if len(ident) == 36 else _APP_BY_NAME
        row = self.conn.execute(query, {"ident": ident}).first()
        return _app(row._mapping) if row else None

    def apps(self, page: Page) -> list[App]:
        column = t.apps.c.name if page.field == "name" else t.apps.c.id
        query, params = _windowed(_LIVE_APPS, column, page, page.start)
        return [_app(row._mapping) for row in self.conn.execute(query, params)]

    def insert_app(self, app: App) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(t.apps.insert().values(**_app_row(app)))
        except IntegrityError as exc:
            raise Conflict(f"Name {app.name} is already taken") from exc

    def update_app(self, app: App) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    t.apps.update().where(t.apps.c.id == app.id).values(**_app_row(app))
                )
        except IntegrityError as exc:
            raise Conflict(f"Name {app.name} is already taken") from exc

    def delete_app(self, app_id: str, at: datetime) -> None:
        self.conn.execute(t.apps.update().where(t.apps.c.id == app_id).values(deleted_at=at))
        self.conn.execute(t.domains.delete().where(t.domains.c.app_id == app_id))

    def lock_app(self, app_id: str) -> None:
        if self.postgres:
            self.conn.execute(_LOCK_APP, {"app": app_id})

    # -- configs and slugs --------------------------------------------------------------------

    def latest_config(self, app_id: str) -> Config | None:
        # The current release's config; before the first release, the newest config set.
        row = self.conn.execute(_LIVE_CONFIG, {"app": app_id}).first()
        if row is None:
            row = self.conn.execute(_POINTED_CONFIG, {"app": app_id}).first()
        if row is None:
            return None
        m = row._mapping
        return Config(m["id"], m["app_id"], self._vars(m["vars"]), _now_utc(m["created_at"]))

    def insert_config(self, config: Config) -> None:
        self.conn.execute(
            _INSERT_CONFIG,
            {
                "id": config.id,
                "app_id": config.app_id,
                "vars": self._stored_vars(config.vars),
                "created_at": config.created_at,
            },
        )
        self.conn.execute(_POINT_CONFIG, {"app": config.app_id, "config": config.id})

    def insert_slug(self, slug: Slug) -> None:
        self.conn.execute(
            t.slugs.insert().values(id=slug.id, image=slug.image, procfile=slug.procfile)
        )

    # -- releases -----------------------------------------------------------------------------

    def latest_release(self, app_id: str) -> Release | None:
        row = self.conn.execute(_LATEST, {"app": app_id}).first()
        return self._release(row._mapping) if row else None

    def current_formation(self, app_id: str) -> Formation | None:
        formation = self.conn.execute(_FORMATION, {"app": app_id}).scalar()
        return formation_from_json(formation) if formation is not None else None

    def release(self, app_id: str, ident: str) -> Release | None:
        query = _RELEASES.where(t.releases.c.app_id == app_id)
        if VERSION.fullmatch(ident):
            query = query.where(t.releases.c.version == int(ident))
        else:
            query = query.where(t.releases.c.id == ident)
        row = self.conn.execute(query).first()
        return self._release(row._mapping) if row else None

    def releases(self, app_id: str, page: Page) -> list[ReleaseSummary]:
        if page.field == "id":
            query, params = _windowed(_APP_SUMMARIES, t.releases.c.id, page, page.start)
        else:
            start = int(page.start) if page.start and VERSION.fullmatch(page.start) else None
            query, params = _windowed(_APP_SUMMARIES, t.releases.c.version, page, start)
        return [
            _summary(row._mapping) for row in self.conn.execute(query, {"app": app_id, **params})
        ]

    def current_states(self) -> list[tuple[App, Release, tuple[str, ...]]]:
        latest = (
            select(t.releases.c.app_id, func.max(t.releases.c.version).label("version"))
            .where(_LIVE)
            .group_by(t.releases.c.app_id)
            .subquery()
        )
        query = _RELEASES.join(
            latest,
            and_(latest.c.app_id == t.releases.c.app_id, latest.c.version == t.releases.c.version),
        )
        query = query.where(t.apps.c.deleted_at.is_(None)).order_by(t.apps.c.name)
        releases = [self._release(row._mapping) for row in self.conn.execute(query)]
        live = t.apps.c.deleted_at.is_(None)
        apps = {
            row._mapping["id"]: _app(row._mapping)
            for row in self.conn.execute(select(t.apps).where(live))
        }
        domains: dict[str, list[str]] = {}
        for app_id, hostname in self.conn.execute(
            select(t.domains.c.app_id, t.domains.c.hostname).order_by(t.domains.c.hostname)
        ):
            domains.setdefault(app_id, []).append(hostname)
        return [
            (apps[r.app_id], r, tuple(domains.get(r.app_id, ())))
            for r in releases
            if r.app_id in apps
        ]

    def unused_images(self) -> list[str]:
        live_app = t.apps.c.deleted_at.is_(None)
        used = (
            select(t.slugs.c.image)
            .join(t.releases, t.releases.c.slug_id == t.slugs.c.id)
            .join(t.apps, t.apps.c.id == t.releases.c.app_id)
            .where(live_app)
        )
        query = (
            select(t.slugs.c.image)
            .distinct()
            .join(t.releases, t.releases.c.slug_id == t.slugs.c.id)
            .join(t.apps, t.apps.c.id == t.releases.c.app_id)
            .where(~live_app, t.slugs.c.image.not_in(used))
            .order_by(t.slugs.c.image)
        )
        return list(self.conn.execute(query).scalars())

    def next_version(self, app_id: str) -> int:
        current = self.conn.execute(_NEXT_VERSION, {"app": app_id}).scalar()
        return int(current or 0) + 1

    def insert_release(self, release: Release) -> None:
        user = release.user
        # No savepoint: a conflict aborts the whole transaction, which Conflict then ends.
        try:
            self.conn.execute(
                _INSERT_RELEASE,
                {
                    "id": release.id,
                    "app_id": release.app_id,
                    "version": release.version,
                    "config_id": release.config.id,
                    "slug_id": release.slug.id,
                    "formation": formation_to_json(release.formation),
                    "description": release.description,
                    "user_id": user.id if user else None,
                    "user_name": user.name if user else None,
                    "user_email": user.email if user else None,
                    "message": release.message,
                    "outcome": release.outcome.value,
                    "reason": release.reason,
                    "created_at": release.created_at,
                    "updated_at": release.updated_at,
                },
            )
        except IntegrityError as exc:
            raise Conflict(
                f"release v{release.version} of {release.app_name} was created concurrently; "
                "retry the request"
            ) from exc
        # The app's current config is its newest release's (a rollback brings the old one back).
        self.conn.execute(
            _RELEASED,
            {"app": release.app_id, "config": release.config.id, "at": release.created_at},
        )

    def update_formation(self, release_id: str, formation: Formation, at: datetime) -> None:
        self.conn.execute(
            t.releases.update()
            .where(t.releases.c.id == release_id)
            .values(formation=formation_to_json(formation), updated_at=at)
        )

    def set_outcome(self, release_id: str, outcome: Outcome, reason: str, at: datetime) -> None:
        self.conn.execute(
            _SET_OUTCOME,
            {"release": release_id, "outcome": outcome.value, "reason": reason, "at": at},
        )

    # -- domains ------------------------------------------------------------------------------

    def domains(self, app_id: str, page: Page) -> list[Domain]:
        column = t.domains.c.hostname if page.field == "hostname" else t.domains.c.id
        query, params = _windowed(_APP_DOMAINS, column, page, page.start)
        return [_domain(r._mapping) for r in self.conn.execute(query, {"app": app_id, **params})]

    def domain(self, ident: str) -> Domain | None:
        row = self.conn.execute(
            select(t.domains).where((t.domains.c.hostname == ident) | (t.domains.c.id == ident))
        ).first()
        return _domain(row._mapping) if row else None

    def insert_domain(self, domain: Domain) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    t.domains.insert().values(
                        id=domain.id,
                        app_id=domain.app_id,
                        hostname=domain.hostname,
                        created_at=domain.created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"{domain.hostname} is currently in use by another app") from exc

    def delete_domain(self, domain_id: str) -> None:
        self.conn.execute(t.domains.delete().where(t.domains.c.id == domain_id))

    def count_domains(self, app_id: str) -> int:
        query = select(func.count()).select_from(t.domains).where(t.domains.c.app_id == app_id)
        return int(self.conn.execute(query).scalar() or 0)

    # -- users and tokens ---------------------------------------------------------------------

    def user(self, name: str) -> User | None:
        row = self.conn.execute(select(t.users).where(t.users.c.name == name)).first()
        return _user(row._mapping) if row else None

    def users(self) -> list[User]:
        rows = self.conn.execute(select(t.users).order_by(t.users.c.name))
        return [_user(row._mapping) for row in rows]

    def insert_user(self, user: User, created_at: datetime) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    t.users.insert().values(
                        id=user.id,
                        name=user.name,
                        email=user.email,
                        admin=user.admin,
                        created_at=created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"user {user.name} already exists") from exc

    def insert_token(self, token: Token, token_hash: str) -> None:
        self.conn.execute(
            t.tokens.insert().values(
                id=token.id,
                user_id=token.user.id,
                token_hash=token_hash,
                description=token.description,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    def password_hash(self, name: str) -> tuple[User, str | None] | None:
        live = t.users.c.disabled.is_(False)
        row = self.conn.execute(select(t.users).where(t.users.c.name == name, live)).first()
        return (_user(row._mapping), row._mapping["password_hash"]) if row else None

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.conn.execute(
            t.users.update().where(t.users.c.id == user_id).values(password_hash=password_hash)
        )

    def disable_user(self, user_id: str) -> None:
        self.conn.execute(t.users.update().where(t.users.c.id == user_id).values(disabled=True))

    def tokens(self, user: User) -> list[Token]:
        query = (
            select(t.tokens)
            .where(t.tokens.c.user_id == user.id, t.tokens.c.revoked_at.is_(None))
            .order_by(t.tokens.c.created_at, t.tokens.c.id)
        )
        return [
            Token(
                id=m["id"],
                user=user,
                description=m["description"],
                created_at=_now_utc(m["created_at"]),
                expires_at=_utc(m["expires_at"]),
            )
            for m in (row._mapping for row in self.conn.execute(query))
        ]

    def revoke_token(self, user_id: str, token_id: str, at: datetime) -> bool:
        result = self.conn.execute(
            t.tokens.update()
            .where(
                t.tokens.c.id == token_id,
                t.tokens.c.user_id == user_id,
                t.tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return bool(result.rowcount)

    def token(self, token_hash: str) -> Token | None:
        query = (
            select(
                t.users,
                t.tokens.c.id.label("token_id"),
                t.tokens.c.description,
                t.tokens.c.created_at.label("token_created_at"),
                t.tokens.c.expires_at,
            )
            .join(t.tokens, t.tokens.c.user_id == t.users.c.id)
            .where(
                t.tokens.c.token_hash == token_hash,
                t.tokens.c.revoked_at.is_(None),
                t.users.c.disabled.is_(False),
            )
        )
        row = self.conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return Token(
            id=m["token_id"],
            user=_user(m),
            description=m["description"],
            created_at=_now_utc(m["token_created_at"]),
            expires_at=_utc(m["expires_at"]),
        )

    # -- events -------------------------------------------------------------------------------

    def insert_event(self, event: Event) -> None:
        self.conn.execute(
            _INSERT_EVENT,
            {
                "kind": event.kind,
                "user_name": event.user,
                "app_name": event.app,
                "text": event.text,
                "message": event.message,
                "data": dict(event.data),
                "created_at": event.at,
                "request_id": event.request_id,
            },
        )

    def events(self, app_name: str, page: Page) -> list[Event]:
        query = select(t.events).where(t.events.c.app_name == app_name)
        order = t.events.c.seq.desc() if page.descending else t.events.c.seq
        rows = self.conn.execute(query.order_by(order).limit(page.max))
        return [
            Event(
                kind=m["kind"],
                user=m["user_name"],
                app=m["app_name"],
                text=m["text"],
                message=m["message"],
                at=_now_utc(m["created_at"]),
                data=dict(m["data"] or {}),
                request_id=m["request_id"],
            )
            for m in (row._mapping for row in rows)
        ]


# -- queries and row mapping ------------------------------------------------------------------


_WINDOWS: dict[tuple[int, str, bool, bool, bool], Select[Any]] = {}


def _windowed(
    query: Select[Any], column: Any, page: Page, start: Any
) -> tuple[Select[Any], dict[str, Any]]:
    """`_window` for a query built once (a module constant): the windowed statement is built
    once per shape too, with the start and the size as parameters."""
    key = (id(query), column.key, page.descending, page.exclusive, start is not None)
    statement = _WINDOWS.get(key)
    if statement is None:
        statement = query
        if start is not None:
            bound: Any = bindparam("start")
            if page.descending:
                statement = statement.where(column < bound if page.exclusive else column <= bound)
            else:
                statement = statement.where(column > bound if page.exclusive else column >= bound)
        order = column.desc() if page.descending else column.asc()
        statement = statement.order_by(order).limit(bindparam("limit"))
        _WINDOWS[key] = statement
    params: dict[str, Any] = {"limit": page.max}
    if start is not None:
        params["start"] = start
    return statement, params


def _window(query: Select[Any], column: Any, page: Page, start: Any = None) -> Select[Any]:
    """Apply a Range window: keyset from `start`, in order, at most `max` rows."""
    start = page.start if start is None else start
    if start is not None:
        if page.descending:
            query = query.where(column < start if page.exclusive else column <= start)
        else:
            query = query.where(column > start if page.exclusive else column >= start)
    order = column.desc() if page.descending else column.asc()
    return query.order_by(order).limit(page.max)


# The current release is the newest one that is rolling out or rolled out: a release that
# failed or was rolled back never replaced the one before it.
VERSION = re.compile(r"[0-9]{1,9}")  # ASCII digits that fit an INTEGER column
_LIVE_OUTCOMES = (Outcome.PENDING.value, Outcome.SUCCEEDED.value)
_LIVE = t.releases.c.outcome.in_(_LIVE_OUTCOMES)


def _build_releases(current: Any = None) -> Select[Any]:
    """Releases with their config and slug; `current` is computed per row unless given."""
    if current is None:
        newer = t.releases.alias("newer")
        latest = (
            select(func.max(newer.c.version))
            .where(newer.c.app_id == t.releases.c.app_id, newer.c.outcome.in_(_LIVE_OUTCOMES))
            .scalar_subquery()
        )
        current = t.releases.c.version == latest
    return (
        select(
            t.releases,
            current.label("current"),
            t.apps.c.name.label("app_name"),
            t.configs.c.vars.label("config_vars"),
            t.configs.c.created_at.label("config_created_at"),
            t.slugs.c.image.label("slug_image"),
            t.slugs.c.procfile.label("slug_procfile"),
        )
        .join(t.apps, t.apps.c.id == t.releases.c.app_id)
        .join(t.configs, t.configs.c.id == t.releases.c.config_id)
        .join(t.slugs, t.slugs.c.id == t.releases.c.slug_id)
    )


def _build_summaries() -> Select[Any]:
    # One app's releases (bound as :app): its newest live version is looked up once, not per row.
    newer = t.releases.alias("newer")
    latest = (
        select(func.max(newer.c.version))
        .where(newer.c.app_id == bindparam("app"), newer.c.outcome.in_(_LIVE_OUTCOMES))
        .scalar_subquery()
    )
    r = t.releases.c
    return (
        select(
            r.id,
            r.app_id,
            r.version,
            r.slug_id,
            r.description,
            r.created_at,
            r.updated_at,
            r.user_id,
            r.user_name,
            r.user_email,
            r.message,
            r.outcome,
            r.reason,
            (r.version == latest).label("current"),
            t.apps.c.name.label("app_name"),
            t.slugs.c.image.label("slug_image"),
        )
        .join(t.apps, t.apps.c.id == r.app_id)
        .join(t.slugs, t.slugs.c.id == r.slug_id)
    )


# Built once: constructing these queries costs more than running them.
_RELEASES = _build_releases()
_SUMMARIES = _build_summaries()
# The current release is by definition the newest live one.
_LATEST = (
    _build_releases(literal(True))
    .where(t.releases.c.app_id == bindparam("app"), _LIVE)
    .order_by(t.releases.c.version.desc())
    .limit(1)
)
# The statements every request runs, built once (building one costs more than running it).
_LIVE_APP = t.apps.c.deleted_at.is_(None)
_APP_BY_NAME = select(t.apps).where(_LIVE_APP, t.apps.c.name == bindparam("ident"))
_APP_BY_ID = select(t.apps).where(_LIVE_APP, t.apps.c.id == bindparam("ident"))
_LOCK_APP = select(t.apps.c.id).where(t.apps.c.id == bindparam("app")).with_for_update()
_LIVE_CONFIG = (
    select(t.configs)
    .join(t.releases, t.releases.c.config_id == t.configs.c.id)
    .where(t.releases.c.app_id == bindparam("app"), _LIVE)
    .order_by(t.releases.c.version.desc())
    .limit(1)
)
_POINTED_CONFIG = (
    select(t.configs)
    .join(t.apps, t.apps.c.config_id == t.configs.c.id)
    .where(t.apps.c.id == bindparam("app"))
)
_INSERT_CONFIG = t.configs.insert()
_POINT_CONFIG = (
    t.apps.update().where(t.apps.c.id == bindparam("app")).values(config_id=bindparam("config"))
)
_INSERT_RELEASE = t.releases.insert()
_RELEASED = (
    t.apps.update()
    .where(t.apps.c.id == bindparam("app"))
    .values(config_id=bindparam("config"), released_at=bindparam("at"))
)
_SET_OUTCOME = (
    t.releases.update()
    .where(t.releases.c.id == bindparam("release"))
    .values(outcome=bindparam("outcome"), reason=bindparam("reason"), updated_at=bindparam("at"))
)
_INSERT_EVENT = t.events.insert()
_LIVE_APPS = select(t.apps).where(_LIVE_APP)
_APP_SUMMARIES = _SUMMARIES.where(t.releases.c.app_id == bindparam("app"))
_APP_DOMAINS = select(t.domains).where(t.domains.c.app_id == bindparam("app"))
_NEXT_VERSION = select(func.max(t.releases.c.version)).where(
    t.releases.c.app_id == bindparam("app")
)
_FORMATION = (
    select(t.releases.c.formation)
    .where(t.releases.c.app_id == bindparam("app"), _LIVE)
    .order_by(t.releases.c.version.desc())
    .limit(1)
)


def _app_row(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "repo": app.repo,
        "exposure": app.exposure.value,
        "maintenance": app.maintenance,
        "certs": dict(app.certs),
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    }


def _app(m: Any) -> App:
    return App(
        id=m["id"],
        name=m["name"],
        repo=m["repo"],
        exposure=Exposure(m["exposure"]),
        maintenance=bool(m["maintenance"]),
        certs=dict(m["certs"] or {}),
        created_at=_now_utc(m["created_at"]),
        updated_at=_now_utc(m["updated_at"]),
        released_at=_utc(m["released_at"]),
    )


def _release_fields(m: Any) -> dict[str, Any]:
    """The columns a release and its summary share."""
    user = None
    if m["user_id"]:
        user = User(id=m["user_id"], name=m["user_name"] or "", email=m["user_email"] or "")
    return {
        "id": m["id"],
        "app_id": m["app_id"],
        "app_name": m["app_name"],
        "version": m["version"],
        "description": m["description"],
        "created_at": _now_utc(m["created_at"]),
        "updated_at": _now_utc(m["updated_at"]),
        "user": user,
        "message": m["message"],
        "outcome": Outcome(m["outcome"]),
        "reason": m["reason"] or "",
        "current": bool(m["current"]),
    }


def _release(m: Any, config_vars: dict[str, str]) -> Release:
    return Release(
        slug=Slug(m["slug_id"], m["slug_image"], bytes(m["slug_procfile"])),
        config=Config(m["config_id"], m["app_id"], config_vars, _now_utc(m["config_created_at"])),
        formation=formation_from_json(m["formation"]),
        **_release_fields(m),
    )


def _summary(m: Any) -> ReleaseSummary:
    return ReleaseSummary(slug_id=m["slug_id"], image=m["slug_image"], **_release_fields(m))


def _domain(m: Any) -> Domain:
    return Domain(m["id"], m["app_id"], m["hostname"], _now_utc(m["created_at"]))


def _user(m: Any) -> User:
    return User(id=m["id"], name=m["name"], email=m["email"] or "", admin=bool(m["admin"]))


def formation_to_json(formation: Formation) -> dict[str, Any]:
    """Serialize a formation to plain JSON."""
    return {name: dataclasses.asdict(process) for name, process in formation.items()}


def formation_from_json(data: dict[str, Any]) -> Formation:
    """Rebuild a formation from its JSON form."""
    formation: Formation = {}
    for name, p in data.items():
        size = p.get("size")
        hc = p.get("healthcheck")
        formation[name] = Process(
            name=p["name"],
            command=tuple(p["command"]),
            quantity=p["quantity"],
            size=Size(**size) if size else None,
            noservice=p.get("noservice", False),
            cron=p.get("cron"),
            ports=tuple(Port(**port) for port in p.get("ports", ())),
            environment=tuple((k, v) for k, v in p.get("environment", ())),
            healthcheck=HealthCheck(**hc) if hc else None,
        )
    return formation
