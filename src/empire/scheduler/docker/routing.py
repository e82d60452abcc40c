"""Keep the router's table in step with each app's healthy web instances.

A public app's hostnames go to the loopback ports of its running web containers; a private
app (or one with no web instance running) has no route. The router is only called when the
route it knows differs from the one wanted, so an idle reconciler does not touch the proxy.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence

from empire.router import Certificate, Route, Router
from empire.scheduler import Manifest
from empire.scheduler.docker.containers import LOOPBACK
from empire.scheduler.docker.instances import Instance

_PEM = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]+)-----\r?\n.*?\r?\n-----END (?P=kind)-----", re.DOTALL
)


def certificate(manifest: Manifest) -> Certificate | None:
    """The app's certificate when one of its certs is PEM text with a chain and a key."""
    for name in sorted(manifest.certs, key=lambda n: n != "web"):
        blocks = [(m.group("kind"), m.group(0)) for m in _PEM.finditer(manifest.certs[name])]
        chain = [text for kind, text in blocks if kind == "CERTIFICATE"]
        keys = [text for kind, text in blocks if kind.endswith("PRIVATE KEY")]
        if chain and keys:
            return Certificate(cert_pem="\n".join(chain) + "\n", key_pem=keys[0] + "\n")
    return None


def upstreams(manifest: Manifest, web: Sequence[Instance]) -> tuple[str, ...]:
    """`127.0.0.1:<host port>` of each running web instance's first port, by index."""
    process = manifest.process("web")
    if process is None or not process.ports:
        return ()
    port = process.ports[0].container
    running = sorted((i for i in web if i.state == "running" and port in i.ports), key=_order)
    return tuple(f"{LOOPBACK}:{i.ports[port]}" for i in running)


def _order(instance: Instance) -> tuple[int, float]:
    return instance.index, instance.created


class Routes:
    """The scheduler's side of the router: apply, narrow and drop an app's route."""

    def __init__(self, router: Router) -> None:
        self._router = router

    def current(self, app_id: str) -> Route | None:
        return next((r for r in self._router.routes() if r.app_id == app_id), None)

    def apply(self, manifest: Manifest, web: Sequence[Instance]) -> bool:
        """Route the app to `web` when it is public, else remove its route; True if changed."""
        targets = upstreams(manifest, web)
        if not (manifest.public and manifest.domains and targets):
            return self.drop(manifest.app_id)
        wanted = Route(
            app_id=manifest.app_id,
            app_name=manifest.app_name,
            hostnames=manifest.domains,
            upstreams=targets,
            certificate=certificate(manifest),
        )
        if self.current(manifest.app_id) == wanted:
            return False
        self._router.route(wanted)
        return True

    def without(self, app_id: str, gone: Collection[Instance]) -> None:
        """Take the loopback ports of instances about to stop out of the app's route."""
        route = self.current(app_id)
        if route is None:
            return
        dead = {f"{LOOPBACK}:{port}" for i in gone for port in i.ports.values()}
        kept = tuple(u for u in route.upstreams if u not in dead)
        if kept == route.upstreams:
            return
        if kept:
            self._router.route(dataclasses.replace(route, upstreams=kept))
        else:
            self._router.remove(app_id)

    def drop(self, app_id: str) -> bool:
        if self.current(app_id) is None:
            return False
        self._router.remove(app_id)
        return True
