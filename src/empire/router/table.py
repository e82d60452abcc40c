"""The routing table as the resolver reads it (`records.json`), and back (pure functions).

The document is what `empire.router.resolver` serves (see its docstring); it also carries each
app's id (`ids`), so that an Empire that starts adopts the table of the router it finds.
Certificates are not in it (the resolver never needs them; they live in Caddy's config).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
