"""The gate every request passes: request id, Accept, authentication, body size, rate limit.

A plain ASGI middleware, so it runs before routing and body parsing: a request without a valid
token gets 401 whatever its path or body. A WebSocket handshake is authenticated the same way
(the Authorization header, Bearer or Basic) and refused before it is accepted: with an HTTP 401
and the JSON error body where the server can send one (the `websocket.http.response` extension),
else by closing with code 4401.

The body is read here, whole, before any route sees it: within `body_timeout` seconds (else
408 and the connection is closed: a client trickling a body holds nothing for long), and up to
`max_body_bytes` (else 413). A refused request's body is read and discarded, up to
`discard_bytes`, before the answer: a client that writes its whole body before it reads (Python's
http.client, requests) then gets the answer rather than a reset connection. A body larger than
that is not read at all: the answer closes the connection.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio import to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from empire.api import errors
from empire.core import Empire, hash_token, is_session
from empire.errors import EmpireError
from empire.events import REQUEST_ID
from empire.model import User

OPEN_PATHS = {
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("POST", "/oauth/authorizations"),
    # The dashboard (empire.web) signs its users in with a cookie of its own.
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/ui"),
}
# The dashboard's pages check their own session; a git hook's URL carries its own secret.
OPEN_PREFIXES = ("/log-streams/", "/ui/", "/static/", "/git-hooks/")
# Bodies that are build sources (a tar, a git push's pack) may be up to `max_source_bytes`.
SOURCE_BODIES = re.compile(r"^/(apps/[^/]+/builds|[^/]+\.git/git-receive-pack|git-hooks/[^/]+)$")
RATE_LIMITED = (
    "Your account reached the API rate limit; please wait a few minutes before making new requests"
)
UNAUTHORIZED = "Request not authenticated, API token is missing, invalid or expired"
SESSION_AS_TOKEN = (
    f"{UNAUTHORIZED}: a dashboard session is not an API token (use `emp login` or an API "
    "token from `empire tokens create`)"
)
NUL_IN_PATH = "invalid path: no name or id contains a NUL character (%00)"
log = logging.getLogger("empire.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_HEROKU_ACCEPT = re.compile(r"application/vnd\.heroku\+json\s*;\s*version=([^\s;,]*)", re.I)
_VERSION_3 = re.compile(r"^3(\.[A-Za-z0-9_.-]+)?$")


class Gate:
    """ASGI middleware in front of every route."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        empire: Empire,
        max_body_bytes: int,
        rate_per_hour: int,
        body_timeout: float = 30.0,
        discard_bytes: int = 16 << 20,
        limiter: RateLimiter | None = None,
        max_source_bytes: int = 0,
        open_hook: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.empire = empire
        self.max_body_bytes = max_body_bytes
        # Shared with the dashboard, whose sessions are tokens too: one budget per token.
        self.limiter = limiter or RateLimiter(rate_per_hour)
        self.body_timeout = body_timeout
        self.discard_bytes = max(discard_bytes, max_body_bytes)
        self.max_source_bytes = max_source_bytes
        self.open_hook = open_hook or (lambda _secret: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = _request_id(headers)
        scope["empire.request_id"] = request_id
        # Events built while serving the request carry its id. Each request runs in a task of
        # its own, so in a context of its own; the threads it hands work to get a copy.
        REQUEST_ID.set(request_id)
        extra: list[tuple[bytes, bytes]] = [(b"request-id", request_id.encode())]

        async def reply(status: int, ident: str, message: str, *, close: bool = False) -> None:
            headers = [*extra, (b"connection", b"close")] if close else extra
            if status == 401 and ".git/" in scope["path"]:  # git asks for credentials then
                headers = [*headers, (b"www-authenticate", b'Basic realm="Empire"')]
            await _send_json(send, status, errors.body(ident, message), headers)

        if _browser_page(scope["method"], scope["path"], headers):
            location = "/ui/apps" if scope["path"] == "/" else "/ui" + scope["path"]
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        *extra,
                        (b"location", location.encode()),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        admission = await self._admit(scope["method"], scope["path"], headers)
        refusal: tuple[int, str, str] | None = None
        if admission is not None:
            if admission.remaining is not None:
                scope.setdefault("state", {}).update(
                    user=admission.user,
                    rate_limit_remaining=admission.remaining,
                    token_key=admission.key,
                )
                extra.append((b"ratelimit-remaining", str(admission.remaining).encode()))
            refusal = admission.refusal

        version = _heroku_version(headers.get("accept", ""))
        if refusal is None and version is not None and not _VERSION_3.match(version):
            refusal = (
                406,
                "not_acceptable",
                f"API version {version} is not served: "
                "use Accept: application/vnd.heroku+json; version=3",
            )

        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            limit = 0 if refusal is not None else self._limit(scope["path"])
            try:
                with anyio.fail_after(self.body_timeout):
                    body = await self._read_body(receive, headers, limit)
            except TimeoutError:
                message = (
                    f"the request body did not arrive within {self.body_timeout:g} s: "
                    "send it whole, then wait for the answer"
                )
                await reply(408, "request_timeout", message, close=True)
                return
            if body.disconnected:
                return  # nobody to answer, and a partial body is no request
            if refusal is None and body.data is None:
                refusal = (413, "payload_too_large", self._too_large(limit))
            if refusal is not None:
                await reply(*refusal, close=not body.complete)
                return
            receive = _replay(body.data or b"", receive)
        elif refusal is not None:
            await reply(*refusal)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Answered here rather than by Starlette's outermost handler, so a 500 carries the
            # Request-Id the log line names too.
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await reply(
                500,
                "internal_error",
                f"internal server error; see the server log for request {request_id}",
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate a WebSocket handshake, as a GET of its path, before the route sees it."""
        headers = Headers(scope=scope)
        request_id = _request_id(headers)
        scope["empire.request_id"] = request_id
        REQUEST_ID.set(request_id)
        extra: list[tuple[bytes, bytes]] = [(b"request-id", request_id.encode())]

        async def deny(status: int, ident: str, message: str) -> None:
            await receive()  # the websocket.connect event
            if "websocket.http.response" in scope.get("extensions", {}):
                await _send_json(send, status, errors.body(ident, message), extra, "websocket.")
            else:
                await send({"type": "websocket.close", "code": 4000 + status, "reason": message})

        admission = await self._admit("GET", scope["path"], headers)
        if admission is not None:
            if admission.refusal is not None:
                await deny(*admission.refusal)
                return
            scope.setdefault("state", {}).update(
                user=admission.user,
                rate_limit_remaining=admission.remaining,
                token_key=admission.key,
            )
        await self.app(scope, receive, send)

    async def _admit(self, method: str, path: str, headers: Headers) -> Admission | None:
        """Authenticate and rate-limit a request to a closed route; None for an open one."""
        if (method, path) in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return None
        token = _token(headers.get("authorization", ""))
        if token is None:
            return Admission(refusal=(401, "unauthorized", UNAUTHORIZED))
        if is_session(token):  # a dashboard cookie is no API token, stolen or not
            return Admission(refusal=(401, "unauthorized", SESSION_AS_TOKEN))
        try:
            user = await self._authenticate(token)
        except EmpireError as exc:
            status, ident = errors.status_of(exc)
            return Admission(refusal=(status, ident, exc.message))
        key = hash_token(token)
        remaining = self.limiter.take(key)
        if remaining < 0:
            return Admission(user, 0, (429, "rate_limit", RATE_LIMITED), key)
        if "\x00" in path:  # refused before a store sees it (PostgreSQL fails on NUL)
            return Admission(user, remaining, (400, "bad_request", NUL_IN_PATH), key)
        return Admission(user, remaining, key=key)

    def _limit(self, path: str) -> int:
        """The most bytes a request's body may have: a build source's, or any other's. A git
        hook's URL is open (its secret is the credential): only the secret of a push in
        progress gets the larger limit, so nobody unauthenticated makes the server hold more
        than any other request's body."""
        if self.max_source_bytes and SOURCE_BODIES.match(path):
            if path.startswith("/git-hooks/") and not self.open_hook(path.rpartition("/")[2]):
                return self.max_body_bytes
            return max(self.max_source_bytes, self.max_body_bytes)
        return self.max_body_bytes

    def _too_large(self, limit: int) -> str:
        return f"request body too large: the limit is {limit} bytes"

    async def _read_body(self, receive: Receive, headers: Headers, limit: int) -> Body:
        """Read the body, keeping at most `limit` bytes; past that, or when the declared
        length is over it, read on and discard up to `discard_bytes` (a refused request's
        body is read to the end this way, so its client reads the answer)."""
        discard = max(self.discard_bytes, limit)
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > discard:
            return Body(None, complete=False)
        chunks: list[bytes] | None = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return Body(None, complete=False, disconnected=True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > discard:
                return Body(None, complete=False)
            if chunks is not None:
                if size > limit:
                    chunks = None  # from here on, read and discard
                else:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                return Body(None if chunks is None else b"".join(chunks), complete=True)

    async def _authenticate(self, token: str) -> User:
        """Authenticate from the facade's cache at once, else from the store in a thread."""
        cached = self.empire.cached_user(token)
        if cached is not None:
            return cached
        user: User = await to_thread.run_sync(self.empire.authenticate, token)
        return user


@dataclass(frozen=True, slots=True)
class Admission:
    """Who a request is from and what is left of their rate, or why it is refused; `key`
    names their token (digest) for the limits kept per token."""

    user: User | None = None
    remaining: int | None = None
    refusal: tuple[int, str, str] | None = None
    key: str = ""


@dataclass(frozen=True, slots=True)
class Body:
    """A request body as the gate read it: the bytes (None when over the limit or not read),
    whether it was read to its end, whether the client went away meanwhile."""

    data: bytes | None
    complete: bool
    disconnected: bool = False


class RateLimiter:
    """A token bucket per API token: `per_hour` requests an hour, refilled continuously."""

    def __init__(self, per_hour: int) -> None:
        self.capacity = per_hour
        self.rate = per_hour / 3600.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        """Take one request from the bucket; return what is left (negative when refused)."""
        if self.capacity <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (float(self.capacity), now))
            level = min(self.capacity, level + (now - last) * self.rate)
            if level < 1:
                self._buckets[key] = (level, now)
                return -1
            self._buckets[key] = (level - 1, now)
            return int(level - 1)


def _browser_page(method: str, path: str, headers: Headers) -> bool:
    """A browser (no token, asking for HTML) opening an API path the dashboard shows."""
    return (
        method == "GET"
        and "authorization" not in headers
        and "text/html" in headers.get("accept", "")
        and (path in ("/", "/apps") or (path.startswith("/apps/") and path.count("/") == 2))
    )


def _heroku_version(accept: str) -> str | None:
    """Return the Heroku API version an Accept header asks for, if it names one."""
    match = _HEROKU_ACCEPT.search(accept)
    return match.group(1) if match else None


def _request_id(headers: Headers) -> str:
    raw = headers.get("request-id") or headers.get("x-request-id") or ""
    first = raw.split(",")[0].strip()
    return first if _REQUEST_ID.match(first) else str(uuid.uuid4())


def _token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or user or None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(
    send: Send,
    status: int,
    payload: dict[str, Any],
    extra: list[tuple[bytes, bytes]],
    prefix: str = "",
) -> None:
    """Send a JSON response (`prefix` "websocket." denies a WebSocket handshake with it)."""
    data = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *extra,
    ]
    await send({"type": f"{prefix}http.response.start", "status": status, "headers": headers})
    await send({"type": f"{prefix}http.response.body", "body": data})
