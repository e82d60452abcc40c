"""The audit trail of an app."""

from __future__ import annotations

from empire.events import Event
from empire.model import Page, Role, User
from empire.usecases.access import Access


class Audit(Access):
    """Read back what was done to an app."""

    def audit(self, ident: str, page: Page, *, by: User) -> list[Event]:
        """List the app's events (who did what, when, with which commit message)."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "reading the audit trail")
            return tx.events(app.id, page)  # by id: a name may have been another app's
