"""The Caddy config of the swarm's router, built pure from the routing table.

The Docker backend's router (`empire.router.caddy`) dials fixed `127.0.0.1:<port>` upstreams.
On a swarm the web tasks come and go on every node, behind no VIP (no IPVS here), so each
route's upstream is a name, `tasks.<app>-web:<port>`, that Caddy resolves itself every second
on the overlay network (`dynamic_upstreams`, source `a`): every task address is one upstream,
with passive health checks and retries on another task for up to 3 s. A route whose upstreams
are all IP addresses dials them as given.

The rest follows `empire.router.caddy`: one server `empire` with automatic HTTPS off; an
`X-Request-Id` on every request (the client's when it looks like one) and its response; one
route per app (exact hostnames first, then wildcards, most specific first); a 404 for every
other Host, which keeps internal apps unreachable. Apps with a certificate also get a TLS
server, `empire-tls`, choosing the certificate by SNI.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from collections.abc import Iterable
from typing import Any

from empire.router import Certificate, Route

SERVER = "empire"
TLS_SERVER = "empire-tls"
REQUEST_ID = "X-Request-Id"
NOT_ROUTED = "no app is routed for this host\n"
REFRESH = "1s"
_CLIENT_REQUEST_ID = r"^[A-Za-z0-9+/=-]{20,200}$"
_TAG = "empire-app:"

Json = dict[str, Any]


def config(routes: Iterable[Route], *, admin: Json, listen: str, tls_listen: str) -> Json:
    """The whole config for a routing table (pure: same table, same document)."""
    table = sorted(
        (r for r in routes if r.hostnames and r.upstreams), key=lambda r: (r.app_name, r.app_id)
    )
    server_routes = [*_request_id(), *_app_routes(table), _not_routed()]
    servers: Json = {
        SERVER: {"listen": [listen], "automatic_https": {"disable": True}, "routes": server_routes}
    }
    apps: Json = {"http": {"servers": servers}}
    with_certs = [(r, r.certificate) for r in table if r.certificate is not None]
    if with_certs:
        servers[TLS_SERVER] = {
            "listen": [tls_listen],
            "automatic_https": {"disable": True},
            "tls_connection_policies": [
                {
                    "match": {"sni": [h.lower() for h in r.hostnames]},
                    "certificate_selection": {"any_tag": [_tag(r.app_id, c)]},
                }
                for r, c in with_certs
            ],
            "routes": server_routes,
        }
        apps["tls"] = {
            "certificates": {
                "load_pem": [
                    {"certificate": c.cert_pem, "key": c.key_pem, "tags": [_tag(r.app_id, c)]}
                    for r, c in with_certs
                ]
            }
        }
    return {"admin": admin, "apps": apps}


def proxy(upstreams: tuple[str, ...]) -> Json:
    """The reverse_proxy handler of one app."""
    handler: Json = {
        "handler": "reverse_proxy",
        "load_balancing": {
            "selection_policy": {"policy": "round_robin"},
            "try_duration": "3s",
            "try_interval": "100ms",
        },
        "health_checks": {"passive": {"fail_duration": "2s", "max_fails": 1}},
        # A task on a node that died does not refuse: give up on it fast, try another.
        "transport": {"protocol": "http", "dial_timeout": "500ms"},
    }
    names = [u for u in upstreams if not _is_ip(u.rpartition(":")[0])]
    if names:
        host, _, port = names[0].rpartition(":")
        handler["dynamic_upstreams"] = {
            "source": "a",
            "name": host,
            "port": port or "80",
            "refresh": REFRESH,
        }
    else:
        handler["upstreams"] = [{"dial": u} for u in upstreams]
    return handler


def routes_from(document: Json | None) -> list[Route]:
    """The routes a config made by `config` carries (what a new router adopts)."""
    try:
        server = document["apps"]["http"]["servers"][SERVER]  # type: ignore[index]
        tls = document["apps"].get("tls", {}).get("certificates", {}).get("load_pem", [])  # type: ignore[index]
    except (KeyError, TypeError, AttributeError):
        return []
    certificates = {}
    for entry in tls if isinstance(tls, list) else []:
        with contextlib.suppress(AttributeError, KeyError, TypeError):
            for tag in entry.get("tags") or []:
                if str(tag).startswith(_TAG):
                    app_id = str(tag)[len(_TAG) :].rpartition(":")[0]
                    certificates[app_id] = Certificate(entry["certificate"], entry["key"])
    found: dict[str, Route] = {}
    for entry in server.get("routes") or []:
        with contextlib.suppress(AttributeError, KeyError, TypeError, IndexError):
            handlers = {h["handler"]: h for h in entry["handle"]}
            owner, handler = handlers["vars"], handlers["reverse_proxy"]
            app_id = str(owner["empire_app_id"])
            hosts = tuple(str(h) for h in entry["match"][0]["host"])
            dynamic = handler.get("dynamic_upstreams")
            if dynamic:
                upstreams: tuple[str, ...] = (f"{dynamic['name']}:{dynamic['port']}",)
            else:
                upstreams = tuple(str(u["dial"]) for u in handler["upstreams"])
            known = found.get(app_id)
            if known is not None:  # wildcard hostnames come as routes of their own
                hosts = known.hostnames + tuple(h for h in hosts if h not in known.hostnames)
            found[app_id] = Route(
                app_id, str(owner["empire_app"]), hosts, upstreams, certificates.get(app_id)
            )
    return list(found.values())


def _app_routes(table: list[Route]) -> list[Json]:
    exact: list[Json] = []
    wildcards: list[tuple[int, str, Json]] = []
    for route in table:
        names = [h.lower() for h in route.hostnames if "*" not in h]
        if names:
            exact.append(_app_route(route, names))
        for name in (h.lower() for h in route.hostnames if "*" in h):
            wildcards.append((-name.count("."), name, _app_route(route, [name])))
    return exact + [r for _, _, r in sorted(wildcards, key=lambda w: (w[0], w[1]))]


def _app_route(route: Route, hostnames: list[str]) -> Json:
    owner = {"handler": "vars", "empire_app": route.app_name, "empire_app_id": route.app_id}
    return {
        "match": [{"host": hostnames}],
        "handle": [owner, proxy(route.upstreams)],
        "terminal": True,
    }


def _request_id() -> list[Json]:
    uuid = {"handler": "headers", "request": {"set": {REQUEST_ID: ["{http.request.uuid}"]}}}
    echo = {
        "handler": "headers",
        "response": {"set": {REQUEST_ID: ["{http.request.header.X-Request-Id}"]}, "deferred": True},
    }
    keep = {"header_regexp": {REQUEST_ID: {"pattern": _CLIENT_REQUEST_ID}}}
    return [{"match": [{"not": [keep]}], "handle": [uuid]}, {"handle": [echo]}]


def _not_routed() -> Json:
    return {
        "handle": [
            {
                "handler": "static_response",
                "status_code": 404,
                "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                "body": NOT_ROUTED,
            }
        ],
        "terminal": True,
    }


def _tag(app_id: str, certificate: Certificate) -> str:
    digest = hashlib.sha256(certificate.cert_pem.encode()).hexdigest()[:16]
    return f"{_TAG}{app_id}:{digest}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
