"""SqlTransaction: one database transaction, whose methods are the store's queries.

Apps, configs and slugs, releases and domains are here; grants and teams (`access`),
users and tokens (`users`), events (`events`) and the webhook outbox
(`deliveries`) are mixins. The statements come prebuilt from `statements`, the row
mapping from `rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from empire.errors import Conflict
from empire.model import (
    App,
    Config,
    Domain,
    Exposure,
    Formation,
    Outcome,
    Page,
    Release,
    ReleaseSummary,
    Role,
    Slug,
)
from empire.secrets import Cipher
from empire.store import AppView
from empire.store import tables as t
from empire.store.sql import views
from empire.store.sql.access import AccessQueries
from empire.store.sql.deliveries import DeliveriesMixin
from empire.store.sql.events import EventQueries
from empire.store.sql.rows import (
    app_from_row,
    app_row,
    as_utc,
    domain_from_row,
    formation_from_json,
    formation_to_json,
    release_from_row,
    summary_from_row,
)
from empire.store.sql.statements import (
    APP_DOMAINS,
    INSERT_CONFIG,
    INSERT_RELEASE,
    LATEST,
    LIVE,
    LIVE_APPS,
    LIVE_CONFIG,
    LOCK_APP,
    NEWEST_VERSION,
    POINT_CONFIG,
    POINTED_CONFIG,
    RELEASED,
    RELEASES,
    SET_OUTCOME,
    SET_PHASE,
    VERSION,
    windowed,
)
from empire.store.sql.users import UserQueries

# One transaction-scoped advisory lock for domain writes (the key is arbitrary, Empire's own).
_LOCK_DOMAINS = text("SELECT pg_advisory_xact_lock(7370656 /* empire domains */)")


class SqlTransaction(AccessQueries, UserQueries, EventQueries, DeliveriesMixin):
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
        return release_from_row(m, self._vars(m["config_vars"]))

    # -- apps ---------------------------------------------------------------------------------

    def app(self, ident: str) -> App | None:
        view = self.app_view(ident)
        return view.app if view else None

    def app_view(
        self,
        ident: str,
        *,
        role_of: str | None = None,
        formation: bool = False,
        config: bool = False,
    ) -> AppView | None:
        # Names are at most 30 characters (formation.APP_NAME), ids are 36: one query either way.
        statement = views.app_view(
            by_id=len(ident) == 36, role=role_of is not None, formation=formation, config=config
        )
        row = self.conn.execute(statement, {"ident": ident, "user_id": role_of}).first()
        if row is None:
            return None
        m = row._mapping
        stored_formation = m["formation"] if formation else None
        return AppView(
            app=app_from_row(m, self.cipher),
            role=views.role(m["role_rank"]) if role_of is not None else None,
            formation=formation_from_json(stored_formation) if stored_formation else None,
            config=self._vars(m["config_vars"]) if config else None,
        )

    def apps(self, page: Page) -> list[App]:
        column = t.apps.c.name if page.field == "name" else t.apps.c.id
        query, params = windowed(LIVE_APPS, column, page, page.start)
        return [app_from_row(row._mapping, self.cipher) for row in self.conn.execute(query, params)]

    def insert_app(self, app: App) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(t.apps.insert().values(**app_row(app, self.cipher)))
        except IntegrityError as exc:
            raise Conflict(f"Name {app.name} is already taken") from exc

    def update_app(self, app: App) -> None:
        try:
            with self.conn.begin_nested():
                row = app_row(app, self.cipher)
                del row["exposure"]  # only set_exposure writes it
                self.conn.execute(t.apps.update().where(t.apps.c.id == app.id).values(**row))
        except IntegrityError as exc:
            raise Conflict(f"Name {app.name} is already taken") from exc

    def set_exposure(self, app_id: str, exposure: Exposure) -> None:
        self.conn.execute(
            t.apps.update().where(t.apps.c.id == app_id).values(exposure=exposure.value)
        )

    def delete_app(self, app_id: str, at: datetime) -> None:
        self.conn.execute(t.apps.update().where(t.apps.c.id == app_id).values(deleted_at=at))
        self.conn.execute(t.domains.delete().where(t.domains.c.app_id == app_id))

    def lock_app(self, app_id: str) -> None:
        if self.postgres:
            self.conn.execute(LOCK_APP, {"app": app_id})

    # -- configs and slugs --------------------------------------------------------------------

    def latest_config(self, app_id: str) -> Config | None:
        # The current release's config; before the first release, the newest config set.
        row = self.conn.execute(LIVE_CONFIG, {"app": app_id}).first()
        if row is None:
            row = self.conn.execute(POINTED_CONFIG, {"app": app_id}).first()
        if row is None:
            return None
        m = row._mapping
        return Config(m["id"], m["app_id"], self._vars(m["vars"]), as_utc(m["created_at"]))

    def insert_config(self, config: Config) -> None:
        self.conn.execute(
            INSERT_CONFIG,
            {
                "id": config.id,
                "app_id": config.app_id,
                "vars": self._stored_vars(config.vars),
                "created_at": config.created_at,
            },
        )
        self.conn.execute(POINT_CONFIG, {"app": config.app_id, "config": config.id})

    def insert_slug(self, slug: Slug) -> None:
        self.conn.execute(
            t.slugs.insert().values(id=slug.id, image=slug.image, procfile=slug.procfile)
        )

    # -- releases -----------------------------------------------------------------------------

    def latest_release(self, app_id: str) -> Release | None:
        row = self.conn.execute(LATEST, {"app": app_id}).first()
        return self._release(row._mapping) if row else None

    def release(self, app_id: str, ident: str) -> Release | None:
        query = RELEASES.where(t.releases.c.app_id == app_id)
        if VERSION.fullmatch(ident):
            query = query.where(t.releases.c.version == int(ident))
        else:
            query = query.where(t.releases.c.id == ident)
        row = self.conn.execute(query).first()
        return self._release(row._mapping) if row else None

    def app_releases(
        self, ident: str, page: Page, *, role_of: str | None = None
    ) -> tuple[list[ReleaseSummary], Role | None]:
        base = views.app_summaries(by_id=len(ident) == 36, role=role_of is not None)
        column = t.releases.c.id if page.field == "id" else t.releases.c.version
        start: Any = page.start
        if page.field != "id":
            start = int(page.start) if page.start and VERSION.fullmatch(page.start) else None
        query, params = windowed(base, column, page, start)
        rows = self.conn.execute(query, {"ident": ident, "user_id": role_of, **params}).all()
        role = views.role(rows[0]._mapping["role_rank"]) if rows and role_of is not None else None
        return [summary_from_row(row._mapping) for row in rows], role

    def current_states(
        self, after: str = "", limit: int | None = None, ids: Sequence[str] | None = None
    ) -> list[tuple[App, Release, tuple[str, ...]]]:
        live_release = (
            select(t.releases.c.id).where(t.releases.c.app_id == t.apps.c.id, LIVE).exists()
        )
        page = (
            select(t.apps)
            .where(t.apps.c.deleted_at.is_(None), t.apps.c.name > after, live_release)
            .order_by(t.apps.c.name)
            .limit(limit)
        )
        if ids is not None:
            page = page.where(t.apps.c.id.in_(list(ids)))
        apps = {
            row._mapping["id"]: app_from_row(row._mapping, self.cipher)
            for row in self.conn.execute(page)
        }
        if not apps:
            return []
        ids = list(apps)
        latest = (
            select(t.releases.c.app_id, func.max(t.releases.c.version).label("version"))
            .where(LIVE, t.releases.c.app_id.in_(ids))
            .group_by(t.releases.c.app_id)
            .subquery()
        )
        query = RELEASES.join(
            latest,
            and_(latest.c.app_id == t.releases.c.app_id, latest.c.version == t.releases.c.version),
        )
        releases = {
            r.app_id: r
            for r in map(self._release, (row._mapping for row in self.conn.execute(query)))
        }
        domains: dict[str, list[str]] = {}
        for app_id, hostname in self.conn.execute(
            select(t.domains.c.app_id, t.domains.c.hostname)
            .where(t.domains.c.app_id.in_(ids))
            .order_by(t.domains.c.hostname)
        ):
            domains.setdefault(app_id, []).append(hostname)
        return [
            (app, releases[app.id], tuple(domains.get(app.id, ())))
            for app in apps.values()
            if app.id in releases
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
        current = self.conn.execute(NEWEST_VERSION, {"app": app_id}).scalar()
        return int(current or 0) + 1

    def insert_release(self, release: Release) -> None:
        user = release.user
        # No savepoint: a conflict aborts the whole transaction, which Conflict then ends.
        try:
            self.conn.execute(
                INSERT_RELEASE,
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
            RELEASED,
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
            SET_OUTCOME,
            {"release": release_id, "outcome": outcome.value, "reason": reason, "at": at},
        )

    def set_phase(self, release_id: str, phase: str, output: str, at: datetime) -> None:
        self.conn.execute(
            SET_PHASE, {"release": release_id, "phase": phase, "output": output, "at": at}
        )

    # -- domains ------------------------------------------------------------------------------

    def domains(self, app_id: str, page: Page) -> list[Domain]:
        column = t.domains.c.hostname if page.field == "hostname" else t.domains.c.id
        query, params = windowed(APP_DOMAINS, column, page, page.start)
        return [
            domain_from_row(r._mapping) for r in self.conn.execute(query, {"app": app_id, **params})
        ]

    def domain(self, ident: str) -> Domain | None:
        row = self.conn.execute(
            select(t.domains).where((t.domains.c.hostname == ident) | (t.domains.c.id == ident))
        ).first()
        return domain_from_row(row._mapping) if row else None

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

    def find_domains(self, hostnames: Sequence[str], under: str | None = None) -> list[Domain]:
        found: ColumnElement[bool] = t.domains.c.hostname.in_(list(hostnames))
        if under is not None:
            # Hostnames hold no LIKE wildcard (`%`, `_`): the pattern is the suffix, literally.
            found = or_(found, t.domains.c.hostname.like("%." + under))
        query = select(t.domains).where(found).order_by(t.domains.c.hostname)
        return [domain_from_row(row._mapping) for row in self.conn.execute(query)]

    def lock_domains(self) -> None:
        # SQLite: a writer already holds the database's one write lock (BEGIN IMMEDIATE).
        if self.postgres:
            self.conn.execute(_LOCK_DOMAINS)
