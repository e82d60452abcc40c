"""The router's access log, read back: one `RouterRequest` per public request.

Caddy (2.6, `empire.router.caddy.LOGGING`) writes two JSON lines per proxied request on the
router container's output: the proxy's `upstream roundtrip` (which instance answered, how
long it took, the request's `X-Request-Id`) and then the access log's `handled request` (the
method, host, path, status, size and whole duration, the `X-Request-Id` it answered with).
Caddy 2.6 cannot put the upstream into the access line itself, so `Requests` pairs them by
client address, port and request id (a bounded table of roundtrips waiting for their access
line), finds the app by the request's Host in the route table, and hands each request to
every `RequestListener`.

Requests without an app (a Host no app has) are dropped. When no process answered the
request carries Heroku's error code: `H14` (no process running: the resolver sent it to the
router's `down` answer), `H19` (no instance could be reached), `H12` (an instance timed out),
`H13` (an instance closed the connection without an answer). `connect` is the time before the
answering instance was asked (lookups, retries); `service` that instance's time.

`AccessLog` is the follower: one thread for the whole router, reading the router container's
output (`docker logs --follow`) from the moment it starts, opening it again when the
container is restarted or replaced. Memory is bounded: one line at a time (at most
`MAX_ENTRY` bytes; a longer one is skipped), and at most `PENDING` roundtrips waiting.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from empire.router import Route
from empire.router import caddy as caddy_config
from empire.router.access import RequestListener, RouterRequest
from empire.scheduler.kit.api import EngineAPI

log = logging.getLogger(__name__)
MAX_ENTRY = 1_000_000  # bytes of one JSON line (Go's default limit of a request's headers)
PENDING = 10_000  # roundtrips waiting for their access line
ROUTES_EVERY = 1.0  # seconds between looks at the route table
REOPEN = 0.5  # seconds between looks for the router container when it is not running
ACCESS_LOGGER = "http.log.access"
PROXY_LOGGER = "http.handlers.reverse_proxy"
_INSTANCE = re.compile(r"-(\d+)-v\d+-[0-9a-f]+$")  # empire-<app>-<process>-<n>-v<r>-<hex>

_ROUNDTRIP = b'"msg":"upstream roundtrip"'
_ACCESS = b'"logger":"http.log.access'
Key = tuple[str, str, str]  # client address, port, request id


class _Roundtrip:
    __slots__ = ("error", "service", "upstream")

    def __init__(self, upstream: str, service: float, error: str) -> None:
        self.upstream = upstream
        self.service = service
        self.error = error


class _App:
    __slots__ = ("app_id", "name", "processes")

    def __init__(self, route: Route) -> None:
        self.app_id = route.app_id
        self.name = route.app_name
        # instance host (container name or address) -> process
        self.processes = {e.host: name for name, endpoints in route.processes for e in endpoints}


class Requests:
    """Turns the router's JSON lines into requests for the listeners (see the module)."""

    def __init__(
        self,
        routes: Callable[[], Iterable[Route]],
        listeners: Sequence[RequestListener],
    ) -> None:
        self._routes = routes
        self.listeners = list(listeners)
        self._pending: collections.OrderedDict[Key, _Roundtrip] = collections.OrderedDict()
        self._hosts: dict[str, _App] = {}
        self._hosts_at = float("-inf")
        self.floor = 0.0  # access lines at or before this unix time are skipped
        self.last = 0.0  # the time of the last access line read

    def feed(self, raw: bytes | str) -> RouterRequest | None:
        """Take one line of the router's output; return the request it completed, if any."""
        data = raw.encode() if isinstance(raw, str) else raw
        if _ROUNDTRIP not in data and _ACCESS not in data:
            return None  # the proxy's other messages, the resolver's: not worth parsing
        try:
            entry = json.loads(data)
        except ValueError:
            return None  # not Caddy's JSON (the resolver, a start-up message, a cut line)
        if not isinstance(entry, dict):
            return None
        logger = entry.get("logger")
        if logger == PROXY_LOGGER and entry.get("msg") == "upstream roundtrip":
            self._roundtrip(entry)
            return None
        if logger != ACCESS_LOGGER and not str(logger).startswith(ACCESS_LOGGER + "."):
            return None
        at = _number(entry.get("ts"))
        if at <= self.floor:  # told already, before the router's output was opened again
            return None
        self.last = max(self.last, at)
        request = self.parse(entry)
        if request is not None:
            for listener in self.listeners:
                try:
                    listener.observe(request)
                except Exception:
                    log.exception("request listener %r failed", listener)
        return request

    def _roundtrip(self, entry: Mapping[str, Any]) -> None:
        request = _mapping(entry.get("request"))
        key = _key(request, _header(_mapping(request.get("headers")), caddy_config.REQUEST_ID))
        trip = _Roundtrip(
            _text(entry.get("upstream")), _number(entry.get("duration")), _text(entry.get("error"))
        )
        self._pending.pop(key, None)
        self._pending[key] = trip  # a retry replaces the attempt before it
        while len(self._pending) > PENDING:
            self._pending.popitem(last=False)

    def parse(self, entry: Mapping[str, Any]) -> RouterRequest | None:
        """The request an access line tells of (with its roundtrip), or None without an app."""
        request = _mapping(entry.get("request"))
        host = _text(request.get("host")).lower()
        app = self._app(host.rsplit(":", 1)[0] if not host.endswith("]") else host)
        request_id = _header(_mapping(entry.get("resp_headers")), caddy_config.REQUEST_ID)
        trip = self._pending.pop(_key(request, request_id), None)
        if app is None:
            return None
        status = int(_number(entry.get("status")))
        total = _number(entry.get("duration")) * 1000
        service = trip.service * 1000 if trip else 0.0
        dyno, error = None, None
        if trip is not None:
            instance, _, port = trip.upstream.rpartition(":")
            if port == str(caddy_config.DOWN_PORT):
                error = "H14"
            elif port != str(caddy_config.ABSENT_PORT):
                dyno = _dyno(app, instance.rstrip("."))  # an SRV target: a full name
        if error is None and status >= 500 and (trip is None or trip.error):
            # No instance answered: none could be reached, one timed out, or one hung up.
            reason = trip.error if trip else ""
            if trip is None or "dial" in reason:
                error = "H19"
            elif "timeout" in reason:
                error = "H12"
            else:
                error = "H13"
        return RouterRequest(
            app_id=app.app_id,
            app=app.name,
            at=datetime.fromtimestamp(_number(entry.get("ts")) or time.time(), UTC),
            method=_text(request.get("method"))[:100],
            path=_text(request.get("uri"))[:10_000],
            host=host[:300],
            status=status,
            bytes=int(_number(entry.get("size"))),
            connect_ms=max(0.0, total - service),
            service_ms=service,
            dyno=dyno,
            request_id=request_id[:200] or None,
            fwd=_text(request.get("remote_ip"))[:100] or None,
            protocol="https" if request.get("tls") else "http",
            error=error,
        )

    def _app(self, host: str) -> _App | None:
        now = time.monotonic()
        if now - self._hosts_at >= ROUTES_EVERY:
            self._hosts_at = now
            try:
                self._hosts = {
                    hostname.lower(): _App(route)
                    for route in self._routes()
                    for hostname in route.hostnames
                }
            except Exception:  # keep the table we had
                log.exception("cannot read the route table")
        found = self._hosts.get(host)
        if found is None and "." in host:
            found = self._hosts.get("*." + host.split(".", 1)[1])
        return found


def _dyno(app: _App, instance: str) -> str | None:
    """`web.2` for an instance of the app's route (the process alone when its number is not
    in its name), else None."""
    process = app.processes.get(instance)
    if process is None:
        return None
    number = _INSTANCE.search(instance)
    return f"{process}.{number.group(1)}" if number else process


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if value == value and abs(value) < 1e15 else 0.0  # no NaN, no inf


def _header(headers: Mapping[str, Any], name: str) -> str:
    values = headers.get(name)
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return ""


def _key(request: Mapping[str, Any], request_id: str) -> Key:
    return (_text(request.get("remote_ip")), _text(request.get("remote_port")), request_id)


def split(chunks: Iterable[bytes], limit: int = MAX_ENTRY) -> Iterator[bytes]:
    """The lines of a byte stream; a line longer than `limit` is skipped whole."""
    buffer = b""
    skipping = False
    for chunk in chunks:
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > limit:
                    skipping, buffer = True, b""
                break
            if not skipping:
                yield buffer[:end]
            skipping, buffer = False, buffer[end + 1 :]
    if buffer and not skipping:
        yield buffer


class AccessLog:
    """Follows the router container's output and feeds `requests` (see the module)."""

    def __init__(self, api: EngineAPI, container: str, requests: Requests) -> None:
        self.api = api
        self.container = container
        self.requests = requests
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self._since: float | None = None  # when it started: what the router said before is old
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._since = time.time()  # what the router logged before this is not ours to tell
        self._thread = threading.Thread(target=self._loop, name="empire-router-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._follow()
            except Exception as e:  # the container is gone or restarting: look again soon
                log.debug("router access log: %s", e)
            self._stop.wait(REOPEN)

    def _follow(self) -> None:
        """Read the running router container's output until it ends (the container stopped,
        was replaced, or `close`)."""
        since = max(self._since or 0.0, self.requests.last)
        self.requests.floor = since
        stream = self.api.logs(
            self.container, stdout=True, stderr=True, stream=True, follow=True, since=since
        )
        with self._lock:
            self._stream = stream
        if self._stop.is_set():
            stream.close()
            return
        try:
            for line in split(stream):
                self.requests.feed(line)
        finally:
            with self._lock:
                self._stream = None
            with contextlib.suppress(Exception):
                stream.close()
