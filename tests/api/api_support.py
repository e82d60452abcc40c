"""Constants and assertions shared by the API tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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
