"""The router contract: discovery and traffic, public and internal, for the engine backends.

A `Route` is everything the router knows of one app: its public hostnames and certificate,
and for each process with ports, the instances that may get traffic (healthy, of the current
release). The Docker and Swarm schedulers call `route` whenever that changes: an instance is
added once healthy, and taken out before it is stopped; after `drain` seconds no new request
reaches it. `http://<app>/` and `http://<process>.<app>/` from any container, and the public
hostnames, reach only the route's instances.

Implementations: `EngineRouter` (`empire.router.router`: a Caddy and a resolver in one
container on the app network) and `NoRouter` (nothing routed: tests, ECS, `fake`).
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
class Endpoint:
    """An instance the router sends requests to: a name it resolves, and a port."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Route:
    """One app's names and instances. `processes` lists each process that has ports (web
    first when it has), with the instances that get its traffic (none: answered 503)."""

    app_id: str
    app_name: str
    hostnames: tuple[str, ...] = ()
    processes: tuple[tuple[str, tuple[Endpoint, ...]], ...] = ()
    certificate: Certificate | None = None

    @property
    def empty(self) -> bool:
        return not self.hostnames and not self.processes

    def endpoints(self, process: str) -> tuple[Endpoint, ...]:
        return next((e for name, e in self.processes if name == process), ())


class Router(Protocol):
    @property
    def drain(self) -> float:
        """Seconds an instance still gets requests after `route` took it out."""
        ...

    def route(self, route: Route) -> None:
        """Create or replace the app's route (an empty one removes it); once it returns, new
        requests go only to the route's instances, but for the `drain`."""
        ...

    def remove(self, app_id: str) -> None:
        """Remove the app's route."""
        ...

    def routes(self) -> list[Route]:
        """The routes as the router knows them (adopted from a running router at first)."""
        ...

    def current(self, app_id: str) -> Route | None:
        """The app's route, if it has one."""
        ...

    def resolver(self) -> str | None:
        """The DNS server containers must use to find each other by app name (None: none)."""
        ...

    def join(self, network: str) -> str | None:
        """Serve the containers of another network too (an app's own, when apps are isolated):
        return the DNS server they must use (the router's address there; None: none)."""
        ...

    def leave(self, network: str) -> None:
        """Stop serving that network, and remove it (its app is gone)."""
        ...

    def ensure(self) -> bool:
        """Bring the router back if it is gone or lost its state; True when it had to."""
        ...

    def start(self) -> None:
        """Start supervising: `ensure` in the background, twice a second."""
        ...

    def close(self) -> None:
        """Stop supervising (the router itself keeps serving)."""
        ...

    def status(self) -> dict[str, object]:
        """What `/health` reports of the router."""
        ...


class NoRouter:
    """Routes nothing: no public traffic, no internal names."""

    drain = 0.0

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def route(self, route: Route) -> None:
        if route.empty:
            self._routes.pop(route.app_id, None)
        else:
            self._routes[route.app_id] = route

    def remove(self, app_id: str) -> None:
        self._routes.pop(app_id, None)

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def current(self, app_id: str) -> Route | None:
        return self._routes.get(app_id)

    def resolver(self) -> str | None:
        return None

    def join(self, network: str) -> str | None:
        return None

    def leave(self, network: str) -> None:
        """Nothing joined."""

    def ensure(self) -> bool:
        return False

    def start(self) -> None:
        """Nothing to supervise."""

    def close(self) -> None:
        """Nothing to supervise."""

    def status(self) -> dict[str, object]:
        return {"router": "none"}
