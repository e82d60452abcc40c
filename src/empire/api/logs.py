"""POST /apps/{app}/log-sessions: Empire's plain stream, or a Heroku log session URL.

A stream is fed by a thread of its own (`api.streams`), never a worker of the shared pool, and
takes one of the token's stream slots until it has ended; it ends when the client goes away.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from empire.api import bodies, errors, render, streams
from empire.api.context import Ctx, obj, string
from empire.api.limits import Slot, StreamSlots
from empire.core import Empire
from empire.errors import Invalid
from empire.model import User
from empire.scheduler import LogQuery

router = APIRouter()
open_router = APIRouter()
SESSION_TTL = 300.0
MAX_DURATION_NS = 100 * 365 * 86400 * 10**9


class Sessions:
    """Log sessions handed to Heroku clients: a secret URL that serves one query, briefly,
    with the rights of the user who asked for it (checked again when it is served), counted
    against the stream slots of the token that asked for it."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str, LogQuery, User, str]] = {}
        self._lock = threading.Lock()

    def add(self, app_id: str, query: LogQuery, user: User, token_key: str) -> str:
        secret = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._items[secret] = (now + SESSION_TTL, app_id, query, user, token_key)
        return secret

    def take(self, secret: str) -> tuple[str, LogQuery, User, str] | None:
        with self._lock:
            item = self._items.pop(secret, None)
        if item is None or item[0] < time.monotonic():
            return None
        return item[1], item[2], item[3], item[4]


@router.post(  # emp log, heroku logs
    "/apps/{app}/log-sessions", response_model=None, openapi_extra=bodies.LOG_SESSION
)
async def log_session(
    app: str, c: Ctx, request: Request, body: Any = Body(default=None)
) -> Response:
    data = obj(body)
    heroku = any(key in data for key in ("lines", "tail", "dyno", "source"))
    if not heroku:  # Empire's emp log: a plain stream, starting `duration` nanoseconds ago
        duration = _count(data, "duration", "a number of nanoseconds")
        since = None  # no duration, or one longer than any log: from the beginning
        if duration and duration < MAX_DURATION_NS:
            since = c.empire.clock() - timedelta(microseconds=duration / 1000)
        slot = c.stream_slot()
        try:
            lines = await c.call(c.empire.logs, app, LogQuery(since=since), by=c.user)
        except BaseException:
            slot.release()
            raise
        channel = streams.follow(lines, slot, "empire-logs")
        return StreamingResponse(_text(channel), media_type="text/plain")
    tail = data.get("tail")
    if tail is not None and not isinstance(tail, bool):
        raise Invalid(f"field 'tail' must be true or false, got {type(tail).__name__}")
    query = LogQuery(
        lines=_count(data, "lines", "a number of lines"),
        process=string(data, "dyno", required=False),
        follow=bool(tail),
    )
    current = await c.call(c.empire.app, app, by=c.user)
    secret = request.app.state.log_sessions.add(current.id, query, c.user, c.token_key)
    now = c.empire.clock()
    session = {
        "id": secret[:8],
        "logplex_url": str(request.base_url) + f"log-streams/{secret}",
        "created_at": render.when(now),
        "updated_at": render.when(now),
    }
    return JSONResponse(session, status_code=201)


def _count(data: dict[str, Any], key: str, what: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Invalid(f"field {key!r} must be {what} (0 or more), got {value!r}")
    return value


@open_router.get("/log-streams/{secret}")  # the logplex_url: carries its own secret
async def log_stream(secret: str, request: Request) -> Response:
    empire: Empire = request.app.state.empire
    found = request.app.state.log_sessions.take(secret)
    if found is None:
        return errors.response(404, "not_found", "this log session has ended or never existed")
    app_id, query, user, token_key = found
    slots: StreamSlots = request.app.state.streams
    slot: Slot = slots.take(token_key)
    try:
        lines = await to_thread.run_sync(lambda: empire.logs(app_id, query, by=user))
    except BaseException:
        slot.release()
        raise
    channel = streams.follow(lines, slot, "empire-logs")
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(_sse(channel), media_type="text/event-stream")
    return StreamingResponse(_text(channel), media_type="text/plain")


async def _text(channel: streams.Channel[str]) -> AsyncIterator[bytes]:
    async for line in streams.drain(channel):
        yield line.encode() + b"\n"


async def _sse(channel: streams.Channel[str]) -> AsyncIterator[bytes]:
    async for line in streams.drain(channel):
        yield "".join(f"data: {part}\n" for part in line.split("\n")).encode() + b"\n"
