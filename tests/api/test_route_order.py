"""The API's routes never compete: no request can match two of them, so the order they are
matched in (the most requested first) changes nothing but speed."""

from __future__ import annotations

import re
from unittest.mock import MagicMock

from fastapi.routing import APIRoute, APIWebSocketRoute

from empire.api import create_app


def _routes() -> list[APIRoute | APIWebSocketRoute]:
    app = create_app(MagicMock(), max_body_bytes=1024, rate_per_hour=0)
    found: list[APIRoute | APIWebSocketRoute] = []

    def walk(routes: list[object]) -> None:
        for route in routes:
            if isinstance(route, APIRoute | APIWebSocketRoute):
                found.append(route)
            router = getattr(route, "original_router", None)  # an included router
            if router is not None:
                walk(router.routes)

    walk(list(app.router.routes))
    return found


def _verbs(route: APIRoute | APIWebSocketRoute) -> set[str]:
    return set(route.methods) if isinstance(route, APIRoute) else {"WEBSOCKET"}


def test_no_request_matches_two_routes() -> None:
    routes = _routes()
    assert len(routes) > 50  # every module's routes were found
    clashes = []
    for a in routes:
        sample = re.sub(r"\{[^}]+\}", "x", a.path)  # a request for `a`, every parameter "x"
        for b in routes:
            if a is not b and _verbs(a) & _verbs(b) and b.path_regex.match(sample):
                clashes.append((a.path, b.path, sorted(_verbs(a) & _verbs(b))))
    assert clashes == []
