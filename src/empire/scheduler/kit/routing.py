"""Keep the router's table in step with an app's serving instances (Docker and Swarm alike).

A route names the app's public hostnames (when it is public) and certificate, and for each
process with ports the instances that get its traffic. The router is called only when the
route it has differs from the one wanted, so an idle reconciler never touches it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping, Sequence

from empire import certs
from empire.errors import SchedulerError
from empire.router import Certificate, Endpoint, Route, Router
from empire.scheduler import Manifest

log = logging.getLogger(__name__)


def routed_processes(manifest: Manifest) -> list[str]:
    """The processes that get internal names (web first): those with ports that run."""
    names = [p.name for p in manifest.processes if p.ports and not p.schedule and not p.noservice]
    return sorted(names, key=lambda n: (n != "web", n))


def certificate(manifest: Manifest) -> Certificate | None:
    """The app's certificate when one of its certs is PEM text with a chain and a key."""
    for name in sorted(manifest.certs, key=lambda n: n != "web"):
        pair = certs.split(manifest.certs[name])
        if pair is not None:
            return Certificate(cert_pem=pair[0], key_pem=pair[1])
    return None


def wanted(manifest: Manifest, endpoints: Mapping[str, Sequence[Endpoint]]) -> Route:
    """The route of the app with these serving instances (by process)."""
    hostnames = manifest.domains if manifest.public else ()
    return Route(
        app_id=manifest.app_id,
        app_name=manifest.app_name,
        hostnames=hostnames,
        processes=tuple(
            (name, tuple(endpoints.get(name, ()))) for name in routed_processes(manifest)
        ),
        certificate=certificate(manifest) if hostnames else None,
    )


class Routes:
    """The scheduler's side of the router: apply, narrow and drop an app's route."""

    def __init__(self, router: Router) -> None:
        self.router = router

    @property
    def drain(self) -> float:
        return self.router.drain

    def apply(self, manifest: Manifest, endpoints: Mapping[str, Sequence[Endpoint]]) -> bool:
        """Route the app to these instances; True if the route changed."""
        route = wanted(manifest, endpoints)
        if self.router.current(manifest.app_id) == (None if route.empty else route):
            return False
        self.router.route(route)
        return True

    def without(self, app_id: str, hosts: Collection[str]) -> bool:
        """Take the instances about to stop (by name) out of the app's route; True if any was
        in it (its requests then need the router's drain before the instance stops)."""
        route = self.router.current(app_id)
        if route is None:
            return False
        kept = tuple(
            (name, tuple(e for e in endpoints if e.host not in hosts))
            for name, endpoints in route.processes
        )
        if kept == route.processes:
            return False
        self.router.route(dataclasses.replace(route, processes=kept))
        return True

    def drop(self, app_id: str) -> None:
        """Take the app's route out, even from a router this process has not reached yet (a
        router that is down gets the table without it when it comes back)."""
        try:
            self.router.remove(app_id)
        except SchedulerError as e:
            log.warning("the router is unreachable; %s leaves it when it is back: %s", app_id, e)
