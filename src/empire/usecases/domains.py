"""Domains: a hostname routed to an app makes it public."""

from __future__ import annotations

from empire import formation as rules
from empire.errors import (
    Conflict,
    NotFound,
)
from empire.model import (
    App,
    Domain,
    Exposure,
    Page,
    Role,
    User,
)
from empire.store import Transaction
from empire.usecases.access import Access
from empire.usecases.base import new_id, store_reads


class Domains(Access):
    """Attach and detach hostnames."""

    # -- domains ----------------------------------------------------------------------------

    @store_reads
    def domains(self, ident: str, page: Page, *, by: User) -> list[Domain]:
        """List an app's domains."""
        return self.domains_of(ident, page, by=by)[1]

    @store_reads
    def domains_of(self, ident: str, page: Page, *, by: User) -> tuple[App, list[Domain]]:
        """Return the app and its domains in the window `page`."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "listing domains")
            return app, tx.domains(app.id, page)

    @store_reads
    def domain(self, ident: str, hostname: str, *, by: User) -> tuple[App, Domain]:
        """Return the app and one of its domains by hostname or id."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "viewing a domain")
            domain = tx.domain(hostname)
        if domain is None or domain.app_id != app.id:
            raise NotFound(f"{hostname} is not a domain of {app.name}", resource="domain")
        return app, domain

    def add_domain(
        self, ident: str, hostname: str, *, by: User, message: str | None = None
    ) -> tuple[App, Domain]:
        """Route a hostname to the app; the app becomes public. Returns the app and the
        domain."""
        self._require_message(message)
        hostname = hostname.strip().lower().rstrip(".")
        rules.check_hostname(hostname)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "adding a domain")
            tx.lock_domains()  # checked against every other app's: one writer at a time
            existing = tx.domain(hostname)
            if existing is not None:
                if existing.app_id == app.id:
                    raise Conflict(f"{hostname} is already added to this app.")
                raise Conflict(f"{hostname} is currently in use by another app.")
            _check_clashes(tx, app, hostname)
            domain = Domain(new_id(), app.id, hostname, self.clock())
            tx.insert_domain(domain)
            app = self._set_exposure(tx, app, Exposure.PUBLIC)
            release = tx.latest_release(app.id)
            text = f"{by.name} added {hostname} to {app.name}"
            self._publish("domain", by, app, text, message, tx=tx)
        if release is not None:
            self._submit(app, release, record=False)
        return app, domain

    def remove_domain(
        self, ident: str, hostname: str, *, by: User, message: str | None = None
    ) -> tuple[App, Domain]:
        """Stop routing a hostname to the app; with no domain left it becomes internal.
        Returns the app and the domain that was removed."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "removing a domain")
            tx.lock_domains()  # one domain writer at a time: the count below stays true
            domain = tx.domain(hostname.strip().lower())
            if domain is None or domain.app_id != app.id:
                raise NotFound(f"{hostname} is not a domain of {app.name}", resource="domain")
            tx.delete_domain(domain.id)
            if tx.count_domains(app.id) == 0:
                app = self._set_exposure(tx, app, Exposure.PRIVATE)
            release = tx.latest_release(app.id)
            text = f"{by.name} removed {hostname} from {app.name}"
            self._publish("domain", by, app, text, message, tx=tx)
        if release is not None:
            self._submit(app, release, record=False)
        return app, domain


def _check_clashes(tx: Transaction, app: App, hostname: str) -> None:
    """Refuse a hostname that is another app's internal name (`<process>.<app>`), that is
    under a wildcard domain of another app, or that is a wildcard over another app's domains:
    one tenant must not take names, or have its certificate served, for another's."""
    internal = rules.internal_app(hostname)
    if internal is not None and tx.app(internal) is not None:
        raise Conflict(
            f"{hostname} is an internal name on this platform (process "
            f"{hostname.split('.')[0]} of app {internal}, reached as http://{hostname}): "
            "use a public DNS name such as www.example.com"
        )
    wildcards = rules.covering_wildcards(hostname)
    under = hostname[2:] if hostname.startswith("*.") else None
    others = [d for d in tx.find_domains(wildcards, under) if d.app_id != app.id]
    covering = [d.hostname for d in others if d.hostname in wildcards]
    if covering:
        raise Conflict(
            f"{hostname} is under {max(covering, key=len)}, a wildcard domain of another app: "
            "a name under another app's wildcard cannot be added (ask that app's admins to "
            "remove the wildcard, or to add the name)"
        )
    if others:
        names = [d.hostname for d in others]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise Conflict(
            f"{hostname} would cover {shown}, of another app: a wildcard cannot take names "
            "other apps use (use a narrower wildcard, or have those names removed first)"
        )
