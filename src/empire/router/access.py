"""One public request as the router saw it: the record its access log yields.

The router's access log is read once (by whoever follows the router container's output) and
each request, matched to its app by hostname, goes to every `RequestListener`: the app's
`router` log line, the per-app request metrics. Nothing here carries more than bounded,
already-parsed fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RouterRequest:
    """One request the router answered for an app. Times are in milliseconds."""

    app_id: str
    app: str
    at: datetime
    method: str
    path: str  # as requested, for the log line only: never a metric label
    host: str
    status: int
    bytes: int
    connect_ms: float
    service_ms: float
    dyno: str | None = None  # the process slot that answered, e.g. `web.2`, when known
    request_id: str | None = None
    fwd: str | None = None  # the client's address
    protocol: str = "http"
    error: str | None = None  # why no process answered (Heroku's `at=error` code), or None


class RequestListener(Protocol):
    def observe(self, request: RouterRequest) -> None:
        """Take one request; must not block."""
        ...
