"""The store contract: a transaction is a `with` block.

    with store.write() as tx:          # serialized per app once `tx.lock_app(app_id)` is called
        release = tx.latest_release(app.id)

`read()` gives a consistent snapshot for queries. Implementations: `sql` (SQLite, PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import ParamSpec, Protocol, TypeVar

from empire.events import Delivery, Event
from empire.model import (
    App,
    Config,
    Domain,
    Exposure,
    Formation,
    Grant,
    Outcome,
    Page,
    Release,
    ReleaseSummary,
    Role,
    Slug,
    Team,
    Token,
    User,
)


@dataclass(frozen=True, slots=True)
class AppView:
    """An app with what one request shows of it, read in one query (`Transaction.app_view`).

    `role` is the role the asking user holds (None: no grant, or not asked); `formation` is
    the current release's (None: no release yet, or not asked); `config` the current config
    vars (empty before any were set; None when not asked).
    """

    app: App
    role: Role | None = None
    formation: Formation | None = None
    config: dict[str, str] | None = None


class Transaction(Protocol):
    """The reads and writes the core needs, inside one database transaction."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (never if it rolls back)."""
        ...

    # apps
    def app(self, ident: str) -> App | None: ...
    def app_view(
        self,
        ident: str,
        *,
        role_of: str | None = None,
        formation: bool = False,
        config: bool = False,
    ) -> AppView | None:
        """Return the live app named or identified by `ident` with, in the same query, the role
        user `role_of` holds on it, its current formation and its current config vars (each
        only when asked for); None when there is no such app."""
        ...

    def apps(self, page: Page) -> list[App]: ...
    def insert_app(self, app: App) -> None: ...
    def update_app(self, app: App) -> None:
        """Write the app's row, but its exposure (`set_exposure`: only domain changes do)."""
        ...

    def set_exposure(self, app_id: str, exposure: Exposure) -> None:
        """Make the app public or internal; the domain use cases call it under
        `lock_domains`, so a stale copy of the app written meanwhile cannot undo it."""
        ...

    def delete_app(self, app_id: str, at: datetime) -> None: ...
    def lock_app(self, app_id: str) -> None: ...

    # configs and slugs
    def latest_config(self, app_id: str) -> Config | None: ...
    def insert_config(self, config: Config) -> None: ...
    def insert_slug(self, slug: Slug) -> None: ...

    # releases
    def latest_release(self, app_id: str) -> Release | None:
        """Return the current release: the newest one not failed nor rolled back."""
        ...

    def release(self, app_id: str, ident: str) -> Release | None: ...
    def app_releases(
        self, ident: str, page: Page, *, role_of: str | None = None
    ) -> tuple[list[ReleaseSummary], Role | None]:
        """The releases in the window `page` of the live app named or identified by `ident`,
        with the role user `role_of` holds on it, in one query. No release at all says nothing
        about the app (it may not exist), nor about the role (None then)."""
        ...

    def current_states(
        self, after: str = "", limit: int | None = None, ids: Sequence[str] | None = None
    ) -> list[tuple[App, Release, tuple[str, ...]]]:
        """Return live apps with their current release and domains, in a few queries: those
        named after `after`, in name order, at most `limit` of them (default: all); only
        those of `ids` when given."""
        ...

    def next_version(self, app_id: str) -> int: ...
    def unused_images(self) -> list[str]:
        """Return images only destroyed apps' releases used: nothing can roll back to them."""
        ...

    def insert_release(self, release: Release) -> None: ...
    def update_formation(self, release_id: str, formation: Formation, at: datetime) -> None: ...
    def set_outcome(self, release_id: str, outcome: Outcome, reason: str, at: datetime) -> None: ...

    def set_phase(self, release_id: str, phase: str, output: str, at: datetime) -> None:
        """Record how a release's phase went (running, succeeded, failed) and its output."""
        ...

    # domains
    def domains(self, app_id: str, page: Page) -> list[Domain]: ...
    def domain(self, ident: str) -> Domain | None: ...
    def insert_domain(self, domain: Domain) -> None: ...
    def delete_domain(self, domain_id: str) -> None: ...
    def count_domains(self, app_id: str) -> int: ...
    def find_domains(self, hostnames: Sequence[str], under: str | None = None) -> list[Domain]:
        """The domains named in `hostnames`, and with `under` those below it at any depth
        (`a.shop.test` and `*.b.shop.test` are below `shop.test`); by hostname."""
        ...

    def lock_domains(self) -> None:
        """Serialize domain writes across apps until the transaction ends (a domain is checked
        against every other app's)."""
        ...

    # users and tokens
    def user(self, name: str) -> User | None: ...
    def users(self) -> list[User]: ...
    def insert_user(self, user: User, created_at: datetime) -> None: ...
    def insert_token(self, token: Token, token_hash: str) -> None: ...
    def token(self, token_hash: str) -> Token | None: ...
    def password_hash(self, name: str) -> tuple[User, str | None] | None: ...
    def set_password(self, user_id: str, password_hash: str) -> None: ...
    def disable_user(self, user_id: str) -> None: ...
    def tokens(self, user: User) -> list[Token]: ...
    def revoke_token(self, user_id: str, token_id: str, at: datetime) -> bool: ...

    # access: per-app grants, teams (implemented by store.sql.access)
    def role(self, app_id: str, user_id: str) -> Role | None:
        """Return the user's effective role on the app: the highest of their own grant and
        their teams' grants, in one query; None when they have none."""
        ...

    def grants(self, app_id: str) -> list[Grant]:
        """Return the app's grants: users by name, then teams by name."""
        ...

    def put_grant(self, grant: Grant) -> None:
        """Insert the grant, or change the role of the subject's existing grant on the app."""
        ...

    def delete_grant(self, grant_id: str) -> None: ...
    def visible_apps(self, user_id: str, page: Page) -> list[App]:
        """Like `apps`, but only the apps the user (or one of their teams) has a grant on."""
        ...

    def find_user(self, ident: str) -> User | None:
        """Return a live user by name, e-mail address or id."""
        ...

    def team(self, ident: str) -> Team | None: ...
    def teams(self, user_id: str | None = None) -> list[Team]:
        """Return every team, or with `user_id` the teams that user belongs to; by name."""
        ...

    def insert_team(self, team: Team) -> None: ...
    def delete_team(self, team_id: str) -> None: ...
    def team_members(self, team_id: str) -> list[User]: ...
    def is_member(self, team_id: str, user_id: str) -> bool: ...
    def add_member(self, team_id: str, user_id: str) -> bool:
        """Add a member; False when they already were one."""
        ...

    def remove_member(self, team_id: str, user_id: str) -> bool:
        """Remove a member; False when they were not one."""
        ...

    # audit events
    def insert_event(self, event: Event) -> int:
        """Insert an event; return the seq (its place in the audit trail) it got."""
        ...

    def events(self, app_id: str, page: Page) -> list[Event]:
        """The audit trail of the app with id `app_id`: the events recorded with that id."""
        ...

    # webhook deliveries: the outbox (implemented by store.sql.deliveries)
    def insert_delivery(self, delivery: Delivery) -> None: ...
    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]: ...
    def next_delivery_due(self) -> datetime | None: ...
    def claim_delivery(self, delivery_id: str, now: datetime, until: datetime) -> Delivery | None:
        """Take a due delivery for one attempt, leased until `until`; None if not due."""
        ...

    def finish_delivery(
        self,
        delivery_id: str,
        *,
        state: str,
        last_error: str,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None: ...
    def delivery(self, delivery_id: str) -> Delivery | None: ...
    def deliveries(self, state: str | None, limit: int) -> list[Delivery]: ...
    def requeue_deliveries(self, ids: Sequence[str] | None, now: datetime) -> int:
        """Make deliveries (by id, or every failed one when None) pending and due now."""
        ...


P = ParamSpec("P")
T = TypeVar("T")


class Store(Protocol):
    """Opens transactions and reports health."""

    def read(self) -> AbstractContextManager[Transaction]: ...
    def write(self) -> AbstractContextManager[Transaction]: ...
    async def run_reads(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn`, which only reads this store, on the calling event loop: its database I/O
        is awaited rather than waited for in a worker thread. `fn` must not write (that raises)
        nor do any other blocking I/O."""
        ...

    def check(self) -> None:
        """Raise Unavailable unless the database answers at the expected schema version."""
        ...
