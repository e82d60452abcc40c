"""The audit trail of an app."""

from __future__ import annotations

from empire.events import Event
from empire.model import Page
from empire.usecases.base import Base


class Audit(Base):
    """Read back what was done to an app."""

    def audit(self, ident: str, page: Page) -> list[Event]:
        """List the app's events (who did what, when, with which commit message)."""
        with self.store.read() as tx:
            app = self._app(tx, ident)
            return tx.events(app.name, page)
