"""One drain's bounded buffer and its connection, run as a task on the drains' event loop.

`offer` (any thread, never blocks) appends a line to a buffer of `capacity` lines and
`capacity_bytes` bytes; when it is full the oldest lines are dropped and counted, and the
service writes Heroku's `Error L10 (output buffer overflow)` line into the app's log. The
task sends batches: over syslog (TCP or TLS) the frames one after the other, over HTTPS one
logplex POST per batch (an error answer drops the batch, counted the same way). A connection
that fails, or a write or response that takes longer than TIMEOUT, is closed and opened again
after a backoff (1 s doubled up to a minute, with jitter); the batch in hand is sent again.
So a drain that is down or slow only fills its own buffer.

Each connection first resolves the host and checks every address it would use (no
loopback or link-local address unless allowed, never Empire's own API port on this machine).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import ipaddress
import logging
import random
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from empire.drains import frames
from empire.drains.rules import Drain, Target, address_kind, parse

log = logging.getLogger(__name__)
CAPACITY = 10_000  # frames a drain holds while it cannot keep up (as Heroku's)
CAPACITY_BYTES = 2 << 20  # and bytes: 10,000 lines of 200 bytes, fewer long ones
BATCH_FRAMES = 500  # frames in one HTTPS POST or one syslog write
BATCH_BYTES = 1 << 20
TIMEOUT = 30.0  # seconds a connect, a write or an HTTPS response may take
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
_MAX_RESPONSE = 1 << 20  # bytes of an HTTPS drain's response read (the rest: connection closed)
_MAX_HEADERS = 64 * 1024
_OVERHEAD = 100  # bytes a buffered line counts besides its text (a frame's header)
_Entry = tuple[str, str, datetime]  # a buffered line: source, text, time


@dataclass(frozen=True, slots=True)
class Connector:
    """How outlets connect: the TLS context (verifying, with the operator's CA file if set),
    whether loopback and link-local addresses are allowed, and the API's ports (never
    reached on this machine)."""

    tls: ssl.SSLContext
    allow_local: bool = False
    api_ports: frozenset[int] = field(default_factory=frozenset)

    async def open(self, target: Target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [a for a in addresses if self._why_not(a, target.port) is None]
        if not allowed:
            why = self._why_not(addresses[0], target.port) if addresses else "does not resolve"
            raise ConnectionRefusedError(
                f"{target.host} ({addresses[0] if addresses else '-'}) {why}"
            )
        return await asyncio.open_connection(
            allowed[0],
            target.port,
            ssl=self.tls if target.tls else None,
            server_hostname=target.host if target.tls else None,
            limit=_MAX_HEADERS,
        )

    def _why_not(self, text: str, port: int) -> str | None:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        kind = address_kind(address)
        if port in self.api_ports and (kind is not None or _is_mine(text)):
            return "is Empire's own API"
        return None if self.allow_local else kind


def _is_mine(address: str) -> bool:
    """Whether `address` belongs to this machine (it can be bound to)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class Outlet:
    """One drain: its buffer, its counts, its task (see the module)."""

    def __init__(
        self,
        drain: Drain,
        app: str,
        connector: Connector,
        loop: asyncio.AbstractEventLoop,
        *,
        capacity: int = CAPACITY,
        capacity_bytes: int = CAPACITY_BYTES,
    ) -> None:
        self.drain = drain
        self.app = app
        self.target = parse(drain.url)
        self.connector = connector
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self._bytes = 0  # in the buffer
        self.sent = 0  # frames handed to the drain (a 2xx for HTTPS)
        self.failures = 0  # connections or sends that failed in a row
        self.last_error = ""
        self._loop = loop
        self._lock = threading.Lock()
        self._buffer: collections.deque[_Entry] = collections.deque()
        self._dropped = 0
        self._dropped_since: datetime | None = None
        self._idle = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- any thread ---------------------------------------------------------------------------

    def offer(self, source: str, text: str, at: datetime) -> None:
        """Queue one line for the drain; never blocks (a full buffer drops its oldest).

        The line is kept as it came (its text cut to what a frame holds) and made a frame only
        when it is sent, on the loop: the writer's thread pays a few list operations, a line
        a full buffer drops costs nothing more, and the drains of one app share the text."""
        entry = (source, text[: frames.MAX_MESSAGE], at)
        size = len(entry[1]) + _OVERHEAD
        with self._lock:
            while self._buffer and (
                len(self._buffer) >= self.capacity or self._bytes + size > self.capacity_bytes
            ):
                self._bytes -= len(self._buffer.popleft()[1]) + _OVERHEAD
                self._dropped += 1
                self._dropped_since = self._dropped_since or datetime.now(UTC)
            self._buffer.append(entry)
            self._bytes += size
            wake, self._idle = self._idle, False
        if wake:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _drop(self, count: int) -> None:
        with self._lock:
            self._dropped += count
            if self._dropped_since is None:
                self._dropped_since = datetime.now(UTC)

    def take_dropped(self) -> tuple[int, datetime | None]:
        """How many frames were dropped since when, since the last call (which resets it)."""
        with self._lock:
            dropped, since = self._dropped, self._dropped_since
            self._dropped, self._dropped_since = 0, None
        return dropped, since

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name=f"drain-{self.drain.id}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        sender: _Sender | None = None
        batch: list[bytes] = []
        delay = BACKOFF_FIRST
        try:
            while True:
                if not batch:
                    batch = await self._next_batch()
                try:
                    if sender is None:
                        sender = await self._connect()
                    await asyncio.wait_for(sender.send(batch, self.drain.token), TIMEOUT)
                except Exception as exc:  # whatever the drain does: try again later
                    if isinstance(exc, DrainRefused):
                        self._drop(len(batch))  # the drain answered: it will not take these
                        batch = []
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    if self.failures in (1, 10) or self.failures % 100 == 0:
                        log.warning(
                            "drain %s of %s: %s", self.drain.token, self.app, self.last_error
                        )
                    if sender is not None:
                        sender.close()
                        sender = None
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, BACKOFF_MAX)
                    continue
                self.sent += len(batch)
                self.failures = 0
                delay = BACKOFF_FIRST
                batch = []
        finally:
            if sender is not None:
                sender.close()

    async def _next_batch(self) -> list[bytes]:
        while True:
            self._wake.clear()
            with self._lock:
                if self._buffer:
                    entries: list[_Entry] = []
                    size = 0
                    while self._buffer and len(entries) < BATCH_FRAMES and size < BATCH_BYTES:
                        entry = self._buffer.popleft()
                        self._bytes -= len(entry[1]) + _OVERHEAD
                        entries.append(entry)
                        size += len(entry[1]) + _OVERHEAD
                    break
                self._idle = True
            await self._wake.wait()
        token, app = self.drain.token, self.app
        return [frames.frame(token, app, source, text, at) for source, text, at in entries]

    async def _connect(self) -> _Sender:
        reader, writer = await asyncio.wait_for(self.connector.open(self.target), TIMEOUT)
        if self.target.scheme == "https":
            return _Https(reader, writer, self.drain.url)
        return _Syslog(reader, writer)


class DrainRefused(Exception):
    """An HTTPS drain answered with an error status: the batch is not sent again."""


class _Sender:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, batch: list[bytes], token: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


class _Syslog(_Sender):
    """RFC 5424 frames, octet-counted, one after the other on the connection."""

    async def send(self, batch: list[bytes], token: str) -> None:
        if self.reader.at_eof():
            raise ConnectionResetError("the drain closed the connection")
        self.writer.write(b"".join(batch))
        await self.writer.drain()


class _Https(_Sender):
    """One POST per batch, as Heroku's HTTPS drains (`application/logplex-1`), on a kept-alive
    connection; the response is read and discarded (at most 1 MB of it)."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str
    ) -> None:
        super().__init__(reader, writer)
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        self.host = f"{host}:{parts.port}" if parts.port else host
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.auth = ""
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.auth = "Authorization: Basic " + base64.b64encode(pair.encode()).decode() + "\r\n"
        self.reusable = True

    async def send(self, batch: list[bytes], token: str) -> None:
        if not self.reusable:
            raise ConnectionResetError("the drain closed the previous response's connection")
        body = b"".join(batch)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            "Content-Type: application/logplex-1\r\n"
            f"Logplex-Msg-Count: {len(batch)}\r\nLogplex-Frame-Id: {uuid.uuid4()}\r\n"
            f"Logplex-Drain-Token: {token}\r\nUser-Agent: Empire-Logplex/1\r\n"
            f"{self.auth}Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = await self._response()
        if not 200 <= status < 300:
            raise DrainRefused(f"the drain answered {status}")

    async def _response(self) -> int:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise ConnectionResetError("the drain's response headers are too long") from exc
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("the drain closed the connection") from exc
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise ConnectionResetError(f"not an HTTP response: {lines[0][:80]!r}") from exc
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get("connection") == "close":
            self.reusable = False
        if "chunked" in headers.get("transfer-encoding", ""):
            await self._chunked()
        elif "content-length" in headers:
            length = int(headers["content-length"] or "0")
            if length > _MAX_RESPONSE:
                self.reusable = False
            else:
                await self.reader.readexactly(length)
        else:
            self.reusable = False  # the body ends when the connection does
        return status

    async def _chunked(self) -> None:
        total = 0
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            total += size
            if total > _MAX_RESPONSE:
                self.reusable = False
                return
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers expected
                return
            await self.reader.readexactly(size + 2)
