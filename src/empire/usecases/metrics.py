"""The app's figures: what runs, its CPU, memory and restarts, and its router traffic."""

from __future__ import annotations

from typing import Protocol

from empire.errors import NotSupported
from empire.metrics.view import AppMetrics
from empire.model import Role, User
from empire.usecases.access import Access
from empire.usecases.base import store_reads


class AppFigures(Protocol):
    """Where the per-app figures are kept (`empire.metrics.window.AppStats`)."""

    def view(self, app_id: str, name: str, minutes: int) -> AppMetrics: ...


class Observe(Access):
    """Per-app metrics, for the app's viewers. The wiring sets `figures` when metrics are on
    (EMPIRE_METRICS); it is only ever read from memory."""

    figures: AppFigures | None = None

    @store_reads
    def app_metrics(self, ident: str, *, by: User, minutes: int = 5) -> AppMetrics:
        """The app's summary over the last `minutes` and its last hour, minute by minute."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "viewing metrics")
        if self.figures is None:
            raise NotSupported("metrics are off on this server (EMPIRE_METRICS=false)")
        return self.figures.view(app.id, app.name, minutes)
