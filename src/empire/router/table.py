"""The routing table as the resolver reads it (`records.json`), and back (pure functions).

The document is what `empire.router.resolver` serves (see its docstring); it also carries each
app's id (`ids`), so that an Empire that starts adopts the table of the router it finds.
Certificates are not in it (the resolver never needs them; they live in Caddy's config).

`Document` writes the same document as text from fragments cached per route, so a change of
one app's route re-encodes that app only (`records` re-encoded the whole table per change:
~9 ms at 1,000 routes, ~45 ms at 5,000).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from empire.router import Certificate, Endpoint, Route
from empire.router import caddy as caddy_config


def records(
    routes: Iterable[Route],
    *,
    generation: int,
    address: str | None,
    name: str,
    networks: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The resolver's document for a table; `networks` are the other networks the router
    serves, by name: (subnet, the router's address there)."""
    apps: dict[str, dict[str, list[list[str | int]]]] = {}
    ids: dict[str, str] = {}
    hosts: dict[str, str] = {}
    for route in sorted(routes, key=lambda r: (r.app_name, r.app_id)):
        if route.empty:
            continue
        ids[route.app_name] = route.app_id
        apps[route.app_name] = {
            process: [[e.host, e.port] for e in endpoints] for process, endpoints in route.processes
        }
        for hostname in route.hostnames:
            hosts[hostname.lower()] = route.app_name
    return {
        "generation": generation,
        "router": {"address": address or "", "name": name},
        "sentinels": {"absent": caddy_config.ABSENT_PORT, "down": caddy_config.DOWN_PORT},
        "apps": apps,
        "hosts": hosts,
        "ids": ids,
        "networks": [
            {"name": n, "subnet": subnet, "address": at}
            for n, (subnet, at) in sorted((networks or {}).items())
        ],
    }


@dataclass(frozen=True, slots=True)
class _Fragments:
    """One route's parts of the document, encoded: its `apps`, `hosts` and `ids` members."""

    route: Route
    app: str
    hosts: tuple[str, ...]
    ident: str


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Document:
    """The resolver's document as text, from fragments cached per route (see the module's
    docstring). `render` gives what `json.dumps(records(...))` gives, member for member: the
    apps in (name, id) order, later ones winning a hostname (or a name) both claim."""

    def __init__(self) -> None:
        self._fragments: dict[str, _Fragments] = {}
        self._order: list[tuple[str, str]] | None = None  # (app name, app id), sorted

    def render(
        self,
        routes: Mapping[str, Route],
        *,
        generation: int,
        address: str | None,
        name: str,
        networks: Mapping[str, tuple[str, str]] | None = None,
    ) -> str:
        """The document of the table `routes` (app id -> route) as JSON text."""
        for app_id in [a for a in self._fragments if a not in routes]:
            del self._fragments[app_id]
            self._order = None
        for app_id, route in routes.items():
            cached = self._fragments.get(app_id)
            if cached is not None and cached.route == route:
                continue
            if cached is None or cached.route.app_name != route.app_name:
                self._order = None
            self._fragments[app_id] = self._fragment(route)
        if self._order is None:
            self._order = sorted((f.route.app_name, a) for a, f in self._fragments.items())
        parts = [self._fragments[app_id] for _, app_id in self._order]
        live = [f for f in parts if f.app]
        head = {
            "generation": generation,
            "router": {"address": address or "", "name": name},
            "sentinels": {"absent": caddy_config.ABSENT_PORT, "down": caddy_config.DOWN_PORT},
        }
        tail = [
            {"name": n, "subnet": subnet, "address": at}
            for n, (subnet, at) in sorted((networks or {}).items())
        ]
        return (
            _encode(head)[:-1]
            + ',"apps":{'
            + ",".join(f.app for f in live)
            + '},"hosts":{'
            + ",".join(h for f in live for h in f.hosts)
            + '},"ids":{'
            + ",".join(f.ident for f in live)
            + '},"networks":'
            + _encode(tail)
            + "}"
        )

    @staticmethod
    def _fragment(route: Route) -> _Fragments:
        if route.empty:
            return _Fragments(route, "", (), "")
        name = _encode(route.app_name)
        processes = {
            process: [[e.host, e.port] for e in endpoints] for process, endpoints in route.processes
        }
        return _Fragments(
            route,
            f"{name}:{_encode(processes)}",
            tuple(f"{_encode(hostname.lower())}:{name}" for hostname in route.hostnames),
            f"{name}:{_encode(route.app_id)}",
        )


def routes(
    document: Mapping[str, Any] | None, certificates: Mapping[str, Certificate]
) -> list[Route]:
    """The table a document (and the certificates of the running Caddy) stands for."""
    if not isinstance(document, Mapping):
        return []
    found = []
    try:
        ids = dict(document.get("ids") or {})
        hosts: dict[str, list[str]] = {}
        for hostname, app in (document.get("hosts") or {}).items():
            hosts.setdefault(str(app), []).append(str(hostname))
        for app, processes in (document.get("apps") or {}).items():
            app_id = str(ids.get(app) or "")
            if not app_id:
                continue
            found.append(
                Route(
                    app_id=app_id,
                    app_name=str(app),
                    hostnames=tuple(sorted(hosts.get(app, []))),
                    processes=tuple(
                        (str(p), tuple(Endpoint(str(t[0]), int(t[1])) for t in targets))
                        for p, targets in (processes or {}).items()
                    ),
                    certificate=certificates.get(app_id),
                )
            )
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        return found
    return found


def generation(document: Mapping[str, Any] | None) -> int:
    try:
        return int((document or {}).get("generation") or 0)
    except (TypeError, ValueError):
        return 0


def certificates(routes: Iterable[Route]) -> list[tuple[str, tuple[str, ...], Certificate]]:
    """The certificates to load, as Caddy's TLS policies want them (most specific first)."""
    return caddy_config.ordered(
        (r.app_id, r.hostnames, r.certificate)
        for r in routes
        if r.certificate is not None and r.hostnames
    )


def networks(document: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    """The other networks a document says the router serves."""
    found: dict[str, tuple[str, str]] = {}
    for entry in (document or {}).get("networks") or []:
        try:
            found[str(entry["name"])] = (str(entry["subnet"]), str(entry["address"]))
        except (KeyError, TypeError):
            continue
    return found
