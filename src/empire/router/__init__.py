"""The router contract: send each public app's hostnames to its healthy web instances.

Implementations: `caddy` (Caddy through its admin API) and `none` (no public traffic). The
Docker and Swarm schedulers call `route` after every change of upstreams; the router keeps the
whole desired table so it can rebuild the proxy's config when the proxy comes back empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Certificate:
    """A PEM certificate chain and its private key."""

    cert_pem: str
    key_pem: str


@dataclass(frozen=True, slots=True)
class Route:
    """Where one app's hostnames go: `host:port` upstreams reachable from the router."""

    app_id: str
    app_name: str
    hostnames: tuple[str, ...]
    upstreams: tuple[str, ...]
    certificate: Certificate | None = None


class Router(Protocol):
    def route(self, route: Route) -> None:
        """Create or replace the app's route; no hostnames or no upstreams removes it."""
        ...

    def remove(self, app_id: str) -> None:
        """Remove the app's route."""
        ...

    def routes(self) -> list[Route]:
        """Return the desired routes as the router knows them."""
        ...

    def ensure(self) -> bool:
        """Re-apply the whole table if the proxy lost it; return True when it had to."""
        ...


class NoRouter:
    """Routes nothing: every app is internal."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def route(self, route: Route) -> None:
        self._routes[route.app_id] = route

    def remove(self, app_id: str) -> None:
        self._routes.pop(app_id, None)

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def ensure(self) -> bool:
        return False
