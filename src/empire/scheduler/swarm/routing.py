"""Keep the router's table in step with each app's web service.

A public app with domains and a web process that has ports and replicas is routed to the name
`tasks.<app>-web:<port>`, which the swarm router resolves on the overlay network to the
addresses of the web tasks (no VIP: dnsrr); anything else has no route. The router is called
only when the route it knows differs from the one wanted.
"""

from __future__ import annotations

import re

from empire.router import Certificate, Route, Router
from empire.scheduler import Manifest
from empire.scheduler.swarm import spec

_PEM = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]+)-----\r?\n.*?\r?\n-----END (?P=kind)-----", re.DOTALL
)


def upstream(manifest: Manifest) -> str | None:
    """`tasks.<app>-web:<port>`, or None when the app has no web process with a port."""
    process = manifest.process("web")
    if process is None or not process.ports:
        return None
    service = spec.service_name(manifest.app_name, "web")
    return f"tasks.{service}:{process.ports[0].container}"


def apply(router: Router, manifest: Manifest, web_replicas: int) -> None:
    """Route the app when it is public and its web service runs, else remove its route."""
    current = next((r for r in router.routes() if r.app_id == manifest.app_id), None)
    target = upstream(manifest)
    if not (manifest.public and manifest.domains and target and web_replicas):
        if current is not None:
            router.remove(manifest.app_id)
        return
    wanted = Route(
        app_id=manifest.app_id,
        app_name=manifest.app_name,
        hostnames=manifest.domains,
        upstreams=(target,),
        certificate=certificate(manifest),
    )
    if wanted != current:
        router.route(wanted)


def drop(router: Router, app_id: str) -> None:
    if any(r.app_id == app_id for r in router.routes()):
        router.remove(app_id)


def certificate(manifest: Manifest) -> Certificate | None:
    """The app's certificate when one of its certs is PEM text with a chain and a key."""
    for name in sorted(manifest.certs, key=lambda n: n != "web"):
        blocks = [(m.group("kind"), m.group(0)) for m in _PEM.finditer(manifest.certs[name])]
        chain = [text for kind, text in blocks if kind == "CERTIFICATE"]
        keys = [text for kind, text in blocks if kind.endswith("PRIVATE KEY")]
        if chain and keys:
            return Certificate(cert_pem="\n".join(chain) + "\n", key_pem=keys[0] + "\n")
    return None
