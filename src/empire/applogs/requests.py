"""The `router` lines: one per public request, as Heroku's router writes them.

    at=info method=GET path="/" host=www.acme.test request_id=8601b555-... fwd="203.0.113.9"
    dyno=web.2 connect=1ms service=3ms status=200 bytes=123 protocol=http

When no process answered, `at=error code=H14 desc="No web processes running"` (and the other
codes `empire.router.access` gives) come first. What the client chose (the path, the method,
the request id) is cut and escaped (`empire.applogs.text`): quotes and control characters
never end a field or a line early.
"""

from __future__ import annotations

from empire.applog import ROUTER, AppLog, LogLine
from empire.applogs import text
from empire.router.access import RouterRequest

DESCRIPTIONS = {
    "H12": "Request timeout",
    "H13": "Connection closed without response",
    "H14": "No web processes running",
    "H19": "Backend connection timeout",
}


class RouterLines:
    """A `RequestListener` that writes each request's line into its app's log."""

    def __init__(self, applog: AppLog) -> None:
        self.applog = applog

    def observe(self, request: RouterRequest) -> None:
        self.applog.write(LogLine(request.app_id, request.app, ROUTER, line(request), request.at))


def line(request: RouterRequest) -> str:
    """The text of a request's line."""
    parts = []
    if request.error:
        desc = DESCRIPTIONS.get(request.error, "Request failed")
        parts += ["at=error", f"code={text.field(request.error, 10)}", f"desc={text.quoted(desc)}"]
    else:
        parts.append("at=info")
    parts += [
        f"method={text.field(request.method, 20)}",
        f"path={text.quoted(request.path)}",
        f"host={text.field(request.host, 255)}",
        f"request_id={text.field(request.request_id or '', 200)}",
        f"fwd={text.quoted(request.fwd or '', 200)}",
        f"dyno={text.field(request.dyno or '', 100)}",
        f"connect={_ms(request.connect_ms)}",
        f"service={_ms(request.service_ms)}",
        f"status={request.status}",
        f"bytes={request.bytes}",
        f"protocol={text.field(request.protocol, 10)}",
    ]
    return " ".join(parts)


def _ms(value: float) -> str:
    return f"{max(0, round(value))}ms"
