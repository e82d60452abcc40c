"""The router's Caddy config: a document that does not change when traffic moves.

Every backend runs one router container on its app network (`empire.router.container`):
Caddy, and beside it the resolver (`empire.router.resolver`). Caddy's config names no app and
no instance: each request's Host is looked up in the resolver at request time (Caddy's
dynamic SRV upstreams, refreshed every `REFRESH`), so deploys, rollbacks, scales, restarts
and domain changes touch only the resolver's records and never reload Caddy. A reload closes
idle keep-alive connections; only a change of certificates needs one.

Servers (all ports are the router container's own):

- `public` on :8080 (published on EMPIRE_ROUTER_LISTEN), and `public-tls` on :8443 (published
  on EMPIRE_ROUTER_TLS_LISTEN) when an app has a certificate: the public domains. Each request
  gets an `X-Request-Id` (the client's, when it looks like one, as Heroku does; else a fresh
  UUID), also set on the response.
- `internal` on :80: `http://<app>/` and `http://<process>.<app>/` from any container (the
  resolver answers those names with the router's address).

The public servers write an access log on the container's output, with the proxy's
`upstream roundtrip` lines (`LOGGING`): `empire.router.accesslog` makes `router` lines of them.
- `absent` on :8404 (404: no app has this Host) and `down` on :8503 (503: the app has no
  healthy instance): where the resolver sends such Hosts.

Each proxy retries for up to 5 s when an instance cannot be reached (refused, not found, or
no answer to the dial within 1 s), trying the others first (passive health checks bench a
failed one for 1 s), so an instance that stopped since the last lookup costs no request. The
5 s are for Swarm: a task that just started on another node can be unreachable from the
router's for a moment while the overlay network learns where it is, and when it is the app's
only instance then, retrying it is all the router can do. Longer would outlast most clients'
own timeouts, and hold every request that long when a node is gone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from empire import certs
from empire.router import Certificate

JSON = dict[str, Any]

PUBLIC = "public"
PUBLIC_TLS = "public-tls"
INTERNAL = "internal"
HTTP_PORT = 8080
TLS_PORT = 8443
INTERNAL_PORT = 80
ABSENT_PORT = 8404
DOWN_PORT = 8503
REFRESH = "250ms"  # how long Caddy trusts a lookup: the drain must be longer
REFRESH_SECONDS = 0.25
NOT_ROUTED = "no app is routed for this host\n"
NOT_RUNNING = "no process of this app is running: see `emp ps`\n"
REQUEST_ID = "X-Request-Id"
# Heroku keeps a client's request id when it looks like one; anything else is replaced.
_CLIENT_REQUEST_ID = r"^[A-Za-z0-9+/=-]{20,200}$"
TAG_PREFIX = "empire-app:"
ZONE = "_empire"


def config(
    certificates: Sequence[tuple[str, tuple[str, ...], Certificate]],
    *,
    admin: JSON,
    resolver: str = "udp/127.0.0.1:53",
) -> JSON:
    """The whole config: `certificates` are (app id, hostnames, certificate), most specific
    hostnames first (a TLS connection takes the first policy whose names match its SNI)."""
    servers: JSON = {
        PUBLIC: _server(HTTP_PORT, _proxy(f"{{http.request.host}}.{_public()}", resolver)),
        INTERNAL: _server(
            INTERNAL_PORT, _proxy(f"{{http.request.host}}.{_internal()}", resolver), ids=False
        ),
        "absent": _static(ABSENT_PORT, 404, NOT_ROUTED),
        "down": _static(DOWN_PORT, 503, NOT_RUNNING),
    }
    servers[PUBLIC]["logs"] = {}  # the access log of public requests: `router` lines
    apps: JSON = {"http": {"servers": servers}}
    if certificates:
        tls = _server(TLS_PORT, _proxy(f"{{http.request.host}}.{_public()}", resolver))
        tls["protocols"] = ["h1", "h2"]  # no HTTP/3: no UDP socket, no Alt-Svc
        tls["tls_connection_policies"] = [
            {
                "match": {"sni": [h.lower() for h in names]},
                "certificate_selection": {"any_tag": [tag(app_id, cert)]},
            }
            for app_id, names, cert in certificates
        ]
        tls["logs"] = {}
        servers[PUBLIC_TLS] = tls
        apps["tls"] = {
            "certificates": {
                "load_pem": [
                    {"certificate": c.cert_pem, "key": c.key_pem, "tags": [tag(app_id, c)]}
                    for app_id, _, c in certificates
                ]
            }
        }
    return {"admin": admin, "logging": LOGGING, "apps": apps}


# On the container's output, as JSON lines (`empire.router.accesslog` reads them back): the
# public servers' access log, and the proxy's `upstream roundtrip` lines (a debug message:
# the only place Caddy 2.6 names the instance that answered). The rest as Caddy's default.
_JSON_STDOUT = {"writer": {"output": "stdout"}, "encoder": {"format": "json"}}
LOGGING: JSON = {
    "logs": {
        "default": {"exclude": ["http.log.access", "http.handlers.reverse_proxy"]},
        "empire-access": {"include": ["http.log.access"], **_JSON_STDOUT},
        "empire-upstreams": {
            "include": ["http.handlers.reverse_proxy"],
            "level": "DEBUG",
            **_JSON_STDOUT,
        },
    }
}


def _public() -> str:
    return f"_public.{ZONE}."


def _internal() -> str:
    return f"_internal.{ZONE}."


def _server(port: int, proxy: JSON, *, ids: bool = True) -> JSON:
    routes = [*_request_id_routes(), proxy] if ids else [proxy]
    return {"listen": [f":{port}"], "automatic_https": {"disable": True}, "routes": routes}


def _proxy(name: str, resolver: str) -> JSON:
    return {
        "handle": [
            {
                "handler": "reverse_proxy",
                "dynamic_upstreams": {
                    "source": "srv",
                    "name": name,
                    "refresh": REFRESH,
                    "resolver": {"addresses": [resolver]},
                    "dial_timeout": "1s",
                },
                # When the lookup itself fails (a Host that is no DNS name): not routed.
                "upstreams": [{"dial": f"127.0.0.1:{ABSENT_PORT}"}],
                "load_balancing": {
                    "selection_policy": {"policy": "round_robin"},
                    "try_duration": "5s",
                    "try_interval": "100ms",
                },
                "health_checks": {"passive": {"fail_duration": "1s", "max_fails": 1}},
                # An instance on a node that died does not refuse: give up on it fast.
                "transport": {"protocol": "http", "dial_timeout": "1s"},
            }
        ],
        "terminal": True,
    }


def _request_id_routes() -> list[JSON]:
    uuid = {"handler": "headers", "request": {"set": {REQUEST_ID: ["{http.request.uuid}"]}}}
    echo = {
        "handler": "headers",
        # Deferred: replaces whatever the upstream sent.
        "response": {"set": {REQUEST_ID: ["{http.request.header.X-Request-Id}"]}, "deferred": True},
    }
    keep = {"header_regexp": {REQUEST_ID: {"pattern": _CLIENT_REQUEST_ID}}}
    return [{"match": [{"not": [keep]}], "handle": [uuid]}, {"handle": [echo]}]


def _static(port: int, status: int, body: str) -> JSON:
    return {
        "listen": [f":{port}"],
        "automatic_https": {"disable": True},
        "routes": [
            {
                "handle": [
                    {
                        "handler": "static_response",
                        "status_code": status,
                        "headers": {"Content-Type": ["text/plain; charset=utf-8"]},
                        "body": body,
                    }
                ]
            }
        ],
    }


def tag(app_id: str, certificate: Certificate) -> str:
    # The fingerprint makes a replaced certificate a new tag: a stale one left in Caddy's
    # certificate cache can never be selected.
    digest = hashlib.sha256(certificate.cert_pem.encode()).hexdigest()[:16]
    return f"{TAG_PREFIX}{app_id}:{digest}"


def certificates_of(document: JSON | None) -> dict[str, Certificate]:
    """The PEM pairs a running config carries, by app id (what a new router adopts)."""
    found: dict[str, Certificate] = {}
    try:
        entries = document["apps"]["tls"]["certificates"]["load_pem"]  # type: ignore[index]
    except (KeyError, TypeError):
        return found
    for entry in entries if isinstance(entries, list) else []:
        try:
            for item in entry.get("tags") or []:
                if isinstance(item, str) and item.startswith(TAG_PREFIX):
                    app_id = item[len(TAG_PREFIX) :].rpartition(":")[0]
                    found[app_id] = Certificate(str(entry["certificate"]), str(entry["key"]))
        except (AttributeError, KeyError, TypeError):
            continue
    return found


def ordered(
    routes: Iterable[tuple[str, tuple[str, ...], Certificate]],
) -> list[tuple[str, tuple[str, ...], Certificate]]:
    """One TLS policy per app and kind of name, the most specific names first: an app's exact
    names and its wildcards become separate policies, so another app's more specific name
    is never shadowed by a wildcard."""
    split: list[tuple[str, tuple[str, ...], Certificate]] = []
    for app_id, names, cert in routes:
        exact = tuple(n for n in names if "*" not in n)
        if exact:
            split.append((app_id, exact, cert))
        split.extend((app_id, (n,), cert) for n in names if "*" in n)
    return sorted(split, key=lambda item: min(certs.specificity(n) for n in item[1]))
