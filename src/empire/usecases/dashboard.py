"""What the dashboard's pages show, each read in one facade call with one role check.

The pages go through the same rules as the API: an app the user cannot view does not exist
for them, and config values are read only by deployers (a viewer gets the names).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from empire import manifest
from empire.events import Event
from empire.model import (
    App,
    Domain,
    Grant,
    Outcome,
    Page,
    Process,
    Release,
    ReleaseSummary,
    Role,
    Task,
    User,
)
from empire.store import Transaction
from empire.usecases.access import Access

APPS_SHOWN = 100  # apps on a page of the list
RELEASES_SHOWN = 20
DOMAINS_PAGE = Page("hostname", max=200)
EVENTS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class AppRow:
    """One line of the apps list."""

    app: App
    version: int | None  # the current release, None before the first deploy
    image: str | None
    desired: int  # processes the current release asks for
    domains: tuple[str, ...]
    last_outcome: Outcome | None  # how the newest release went


@dataclass(frozen=True, slots=True)
class AppPage:
    """Everything the app page shows. `config` holds the values for deployers only; a viewer
    gets the names with empty values."""

    app: App
    role: Role
    processes: list[Process]
    tasks: list[Task]
    releases: list[ReleaseSummary]  # newest first
    config: dict[str, str]
    config_shown: bool
    domains: list[Domain]
    grants: list[Grant]
    events: list[Event]  # newest first
    changes: dict[int, str]  # what each release shown changed against the one before it

    @property
    def can_deploy(self) -> bool:
        return self.role >= Role.DEPLOYER


class Dashboard(Access):
    """The dashboard's reads."""

    def app_rows(self, after: str = "", *, by: User) -> list[AppRow]:
        """The apps `by` may view named after `after`, at most APPS_SHOWN, by name, each with
        its current release and domains (a page of the list: at 1,000 apps the whole list was
        286 KB and 400 ms)."""
        page = Page("name", start=after or None, exclusive=bool(after), max=APPS_SHOWN)
        with self.store.read() as tx:
            if by.admin:
                apps = tx.apps(page)
                # The first APPS_SHOWN apps with a release after `after` include every one of
                # this page's apps that has one.
                states = {
                    app.id: (release, domains)
                    for app, release, domains in tx.current_states(after, APPS_SHOWN)
                }
            else:
                apps = tx.visible_apps(by.id, page)
                states = {}
                for app in apps:
                    release = tx.latest_release(app.id)
                    if release is not None:
                        names = tuple(d.hostname for d in tx.domains(app.id, DOMAINS_PAGE))
                        states[app.id] = (release, names)
        rows = []
        for app in apps:
            release, domains = states.get(app.id, (None, ()))
            rows.append(
                AppRow(
                    app=app,
                    version=release.version if release else None,
                    image=release.slug.image if release else None,
                    desired=sum(p.quantity for p in release.formation.values()) if release else 0,
                    domains=tuple(domains),
                    last_outcome=release.outcome if release else None,
                )
            )
        return rows

    def app_page(self, ident: str, *, by: User) -> AppPage:
        """The app page: processes, instances, releases, config, domains, access, activity."""
        with self.store.read() as tx:
            view = self._view_as(
                tx, ident, by, Role.VIEWER, "viewing the app", formation=True, config=True
            )
            role = Role.ADMIN if by.admin else (view.role or Role.VIEWER)
            shown = role >= Role.DEPLOYER
            config = dict(view.config or {})
            if not shown:  # a viewer gets the names, never a value
                config = dict.fromkeys(config, "")
            app = view.app
            releases, _ = tx.app_releases(
                app.id, Page("version", max=RELEASES_SHOWN, descending=True)
            )
            domains = tx.domains(app.id, DOMAINS_PAGE)
            grants = tx.grants(app.id)
            changes = _changes(tx, app, releases)
            events = tx.events(app.id, Page("created_at", max=EVENTS_SHOWN, descending=True))
        formation = view.formation or {}
        processes = [formation[name] for name in manifest.process_types(formation)]
        tasks = self.scheduler.tasks(app.id) if formation else []
        return AppPage(
            app=app,
            role=role,
            processes=processes,
            tasks=tasks,
            releases=releases,
            config=config,
            config_shown=shown,
            domains=domains,
            grants=grants,
            events=events,
            changes=changes,
        )


def _changes(tx: Transaction, app: App, shown: list[ReleaseSummary]) -> dict[int, str]:
    """Each shown release against its predecessor: the image, and the names of the config
    vars added, removed or changed (never a value), and the processes whose count changed."""
    if not shown:
        return {}
    full: list[Release] = []
    for summary in shown:
        release = tx.release(app.id, str(summary.version))
        if release is not None:
            full.append(release)
    oldest = full[-1].version if full else 0
    before = tx.release(app.id, str(oldest - 1)) if oldest > 1 else None
    if before is not None:
        full.append(before)
    said: dict[int, str] = {}
    for new, old in itertools.pairwise(full):
        parts = []
        if new.slug.image != old.slug.image:
            parts.append("image")
        old_vars, new_vars = old.config.vars, new.config.vars
        for word, names in (
            ("added", sorted(set(new_vars) - set(old_vars))),
            ("removed", sorted(set(old_vars) - set(new_vars))),
            (
                "changed",
                sorted(k for k in set(new_vars) & set(old_vars) if new_vars[k] != old_vars[k]),
            ),
        ):
            if names:
                parts.append(f"{word} {', '.join(names)}")
        scaled = sorted(
            name
            for name in set(new.formation) | set(old.formation)
            if _quantity(new, name) != _quantity(old, name)
        )
        if scaled:
            parts.append(f"scaled {', '.join(scaled)}")
        said[new.version] = "; ".join(parts) or "nothing (a redeploy)"
    if full and full[-1].version == 1:
        said[1] = "first release"
    return said


def _quantity(release: Release, name: str) -> int:
    process = release.formation.get(name)
    return process.quantity if process is not None else 0
