"""Constants and assertions shared by the API tests."""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from empire.model import Page
from support.services import free_port
from support.stack import Stack, make_stack

IMAGE = "remind101/acme-inc:latest"
APP = "acme-inc"
PROCFILE = b"""\
web: ./bin/web --port $PORT
worker: ./bin/worker
migrate:
  command: ./bin/migrate
  noservice: true
"""
HEROKU = "application/vnd.heroku+json; version=3"

Snapshot = Callable[[], dict[str, Any]]
Deploy = Callable[..., list[dict[str, Any]]]


def ndjson(text: str) -> list[dict[str, Any]]:
    """Parse a newline-delimited JSON body."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def error(response: Any, status: int, ident: str, message: str | None = None) -> dict[str, Any]:
    """Assert a Heroku error response: status, `{"id","message","url"}`, the exact message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert {"id", "message", "url"} <= body.keys(), body
    assert body["id"] == ident, body
    if message is not None:
        assert body["message"] == message, body
    assert body["message"], body
    return body


SIZE_FORMS = "use 1X, 2X, PX or cpu:memory[:nproc=N], e.g. 512:1GB"


def size_refused(client: Any, size: str, message: str) -> None:
    """Check that every request taking a size (scale, scale one, run) refuses `size` with
    400 and `message`."""
    for response in (
        client.patch(f"/apps/{APP}/formation", json={"updates": [{"type": "web", "size": size}]}),
        client.patch(f"/apps/{APP}/formation/web", json={"size": size}),
        client.post(f"/apps/{APP}/dynos", json={"command": "ls", "size": size}),
    ):
        error(response, 400, "bad_request", message)


def take_snapshot(stack: Stack) -> dict[str, Any]:
    """Everything a request could change: apps, releases, config, formations, domains, what
    the scheduler runs and the audit events."""
    empire = stack.empire
    apps: dict[str, Any] = {}
    for app in empire.apps(Page(field="name", max=1000), by=stack.user):
        releases = [
            empire.release(app.id, str(r.version), by=stack.user)
            for r in empire.releases(app.id, Page(field="version", max=1000), by=stack.user)
        ]
        domains = empire.domains(app.id, Page(field="hostname", max=1000), by=stack.user)
        apps[app.name] = {
            "app": dataclasses.asdict(app),
            "releases": [dataclasses.asdict(r) for r in releases],
            "config": empire.config(app.id, by=stack.user),
            "domains": [dataclasses.asdict(d) for d in domains],
        }
    scheduler = stack.scheduler
    return {
        "apps": apps,
        "manifests": dict(scheduler.manifests),
        "runs": {k: list(v) for k, v in scheduler.runs.items()},
        "stopped": list(scheduler.stopped),
        "restarts": list(scheduler.restarts),
        "events": len(stack.events.events),
    }


def served_document() -> dict[str, Any]:
    """The OpenAPI document as GET /openapi.json serves it (from a throwaway Empire)."""
    with tempfile.TemporaryDirectory() as tmp, make_stack(Path(tmp)).client() as client:
        response = client.get("/openapi.json")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
    return document


def dashboard(method: str, template: str) -> bool:
    """The dashboard's routes: signed in by cookie, not token (test_dashboard.py)."""
    return template in ("/login", "/logout", "/ui") or template.startswith("/ui/")


def routes(stack: Stack) -> Iterator[tuple[str, str]]:
    """Every (method, path template) the application serves."""
    for method, path, _ in handlers(stack):
        yield method, path


def handlers(stack: Stack) -> Iterator[tuple[str, str, Route]]:
    """Every (method, path template, route) the application serves over HTTP."""
    yield from _walk(stack.api.routes, "")


def _walk(table: Sequence[BaseRoute], prefix: str) -> Iterator[tuple[str, str, Route]]:
    for route in table:
        if isinstance(route, WebSocketRoute):
            continue  # WebSocket authentication is tested in test_attach.py
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            continue  # the dashboard's and the docs' files (test_dashboard.py)
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path, route
        else:  # FastAPI >= 0.16x keeps included routers as nodes of the table
            included = getattr(route, "original_router", None)
            assert included is not None, f"unexpected route {route!r}"
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + getattr(context, "prefix", ""))


class Served:
    """An ASGI app served by uvicorn, as `empire server` serves the API (its connection
    protocol and limits: `empire.api.server`), in a thread of the test, on a free port."""

    def __init__(self, app: Any, **options: Any) -> None:
        import uvicorn

        from empire.api.server import uvicorn_options

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            **uvicorn_options(**options),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
