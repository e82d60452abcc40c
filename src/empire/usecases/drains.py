"""Log drains: where an app's log lines are forwarded (syslog, syslog over TLS, HTTPS).

Every operation needs the deployer role: a drain URL often holds a credential (an HTTPS
drain's basic auth, a token in its path or query), as config vars do, and a drain sends the
app's whole log out of the platform. Viewers read the logs, not where they go.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from empire.drains.rules import MAX_PER_APP, Drain, DrainPolicy, same_drain
from empire.errors import Conflict, Invalid, NotFound
from empire.model import App, Role, User
from empire.store import Transaction
from empire.usecases.access import Access
from empire.usecases.base import new_id, store_reads


class Drains(Access):
    """List, add and remove an app's log drains."""

    # Set by the wiring: which URLs the operator allows, and who to tell once drains changed
    # (the forwarder, so a new drain gets lines at once rather than at its next look).
    drain_policy: DrainPolicy = DrainPolicy()
    drains_changed: Callable[[], None] | None = None

    @store_reads
    def drains(self, ident: str, *, by: User) -> tuple[App, list[Drain]]:
        """Return the app and its drains, oldest first."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "listing log drains")
            return app, tx.drains(app.id)

    @store_reads
    def drain(self, ident: str, key: str, *, by: User) -> tuple[App, Drain]:
        """Return the app and one of its drains, by id, URL or token."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "viewing a log drain")
            return app, _find(tx, app, key)

    def add_drain(
        self, ident: str, url: str, *, by: User, message: str | None = None
    ) -> tuple[App, Drain]:
        """Add a drain; its lines start to flow within a second. Returns the app and it."""
        self._require_message(message)
        url = url.strip()
        self.drain_policy.check(url)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "adding a log drain")
            tx.lock_app(app.id)  # the count and the duplicate check below stay true
            existing = tx.drains(app.id)
            if same_drain(url, [d.url for d in existing]):
                raise Conflict(f"{app.name} already has this drain: {url}")
            if len(existing) >= MAX_PER_APP:
                raise Invalid(
                    f"{app.name} has {len(existing)} drains, the most an app may have: remove "
                    "one first (emp drains-remove URL)"
                )
            now = self.clock()
            drain = Drain(new_id(), app.id, url, f"d.{new_id()}", now, now)
            tx.insert_drain(drain)
            text = f"{by.name} added a log drain to {app.name}"
            self._publish("drain", by, app, text, message, {"drain": drain.token}, tx=tx)
            self._tell_drains(tx)
        return app, drain

    def remove_drain(
        self, ident: str, key: str, *, by: User, message: str | None = None
    ) -> tuple[App, Drain]:
        """Remove a drain (by id, URL or token); returns the app and the drain removed."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "removing a log drain")
            tx.lock_app(app.id)
            drain = _find(tx, app, key)
            tx.delete_drain(drain.id)
            text = f"{by.name} removed a log drain from {app.name}"
            self._publish("drain", by, app, text, message, {"drain": drain.token}, tx=tx)
            self._tell_drains(tx)
        return app, drain

    def live_drains(self) -> list[tuple[str, Drain]]:
        """Every live app's drains with the app's name: what the forwarder sends to."""
        with self.store.read() as tx:
            return tx.live_drains()

    def _tell_drains(self, tx: Transaction) -> None:
        changed = self.drains_changed
        if changed is not None:
            tx.after_commit(changed)


def _find(tx: Transaction, app: App, key: str) -> Drain:
    """The app's drain whose id, token or URL is `key` (a URL may come percent-encoded)."""
    key = key.strip()
    candidates = (key, unquote(key))
    for drain in tx.drains(app.id):
        if drain.id in candidates or drain.token in candidates:
            return drain
        if any(same_drain(c, [drain.url]) for c in candidates if "://" in c):
            return drain
    raise NotFound(f"{app.name} has no log drain {key[:200]}", resource="drain")
