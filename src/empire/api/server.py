"""The HTTP server's connection protocol: uvicorn's (httptools), with the limits a server
open to a whole organisation needs, and a way to hand a connection over.

- A request's headers must arrive within `header_timeout` seconds of the connection opening
  (or of the previous response) and in at most `max_header_bytes`: a client that trickles
  them (slowloris) is answered 408 or 431 and disconnected, however steadily it sends. uvicorn
  alone times out only idle keep-alive connections. (Bodies are timed by the gate.)
- At most `max_connections` connections are open at once: one more is answered 503 and
  closed at once. (uvicorn's own `limit_concurrency` answers in plain text.)
- `uvicorn_options` gives uvicorn this protocol and the keep-alive timeout.
- `HIJACK`: every request's scope carries a function that takes its connection over from
  HTTP, for the protocol Empire's own `emp` 0.13.0 speaks on an attached `emp run`
  (`api/hijack.py`): uvicorn then writes nothing more on it, and the bytes that come are the
  caller's to read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

HIJACK = "empire.hijack"
HEADER_TIMEOUT = 15.0
MAX_HEADER_BYTES = 64 * 1024
MAX_CONNECTIONS = 1000
KEEP_ALIVE = 5
_RAW_BUFFER = 64 * 1024  # bytes read ahead of a hijacked connection's reader
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def uvicorn_options(
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    keep_alive: int = KEEP_ALIVE,
) -> dict[str, Any]:
    """The options `uvicorn.run` (or `uvicorn.Config`) gets for Empire's API: this module's
    protocol with its limits, and idle keep-alive connections closed after `keep_alive`
    seconds."""
    return {
        "http": protocol(header_timeout=header_timeout, max_connections=max_connections),
        "timeout_keep_alive": keep_alive,
    }


def protocol(
    *,
    header_timeout: float = HEADER_TIMEOUT,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_connections: int = MAX_CONNECTIONS,
) -> type[HttpProtocol]:
    """The protocol class with these limits (uvicorn builds one instance per connection)."""
    limits = {
        "header_timeout": header_timeout,
        "max_header_bytes": max_header_bytes,
        "max_connections": max_connections,
    }
    return type("HttpProtocol", (HttpProtocol,), limits)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and hand-over (see the module)."""

    header_timeout: ClassVar[float] = HEADER_TIMEOUT
    max_header_bytes: ClassVar[int] = MAX_HEADER_BYTES
    max_connections: ClassVar[int] = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes: int | None = 0  # None: not reading headers
        self._raw: RawConnection | None = None

    # -- connection events ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections and len(self.connections) > self.max_connections:
            self._refuse(
                503,
                "unavailable",
                f"the server has {self.max_connections} connections open, its limit: "
                "try again in a moment",
            )
            return
        self._expect_headers()

    def data_received(self, data: bytes) -> None:
        if self._raw is not None:
            self._raw.feed(data)
            return
        if self._header_bytes is not None:
            self._header_bytes += len(data)
        super().data_received(data)
        # Still reading headers after all that (a body in the same read does not count: the
        # parser ended the headers before it).
        if self._header_bytes is not None and self._header_bytes > self.max_header_bytes:
            self._refuse(
                431,
                "header_too_large",
                f"the request headers are over {self.max_header_bytes} bytes",
            )

    def eof_received(self) -> bool | None:  # type: ignore[override]
        if self._raw is not None:
            self._raw.feed_eof()
            return True  # the client closed its side: ours stays open for what is left to send
        super().eof_received()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._raw is not None:
            self._raw.lost()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._raw is not None:
            self.transport.close()
            return
        super().shutdown()

    # -- parser callbacks -----------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        self._header_bytes = None
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:
            self.scope[HIJACK] = lambda: self._hijack(cycle)  # type: ignore[literal-required]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._raw is None:
            self._expect_headers()

    # -- internals ------------------------------------------------------------------------------

    def _expect_headers(self) -> None:
        """The next request's headers are due within `header_timeout` seconds."""
        self._cancel_deadline()
        self._header_bytes = 0
        self._deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self._raw is None and not self.transport.is_closing():
            self._refuse(
                408,
                "request_timeout",
                f"the request headers did not arrive within {self.header_timeout:g} s",
            )

    def _refuse(self, status: int, ident: str, message: str) -> None:
        """Answer with a Heroku error and close, before any app saw a request (unless one is
        being answered on this connection: then only close)."""
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy and not self.transport.is_closing():
            body = json.dumps({"id": ident, "message": message, "url": ""}).encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"retry-after: 1\r\nconnection: close\r\n\r\n%s"
                % (status, _REASONS[status], len(body), body)
            )
        self.transport.close()

    def _hijack(self, cycle: RequestResponseCycle) -> RawConnection:
        """Hand the request's connection over: uvicorn's `send` becomes a no-op for it, the
        keep-alive and header deadlines stop, and the bytes that come go to the caller."""
        if self._raw is not None:
            raise RuntimeError("this connection was handed over already")
        cycle.disconnected = True  # uvicorn sends nothing more, and expects no response
        cycle.keep_alive = False
        self._unset_keepalive_if_required()
        self._cancel_deadline()
        self._header_bytes = None
        self._raw = RawConnection(self.transport, self.flow)
        self.flow.resume_reading()
        return self._raw


class RawConnection:
    """A connection taken over from HTTP: bytes both ways, a half-close from the client (end
    of its input) and from us (`close`)."""

    def __init__(self, transport: asyncio.Transport, flow: FlowControl) -> None:
        self._transport = transport
        self._flow = flow
        self._buffer = bytearray()
        self._eof = False
        self._lost = False
        self._readable = asyncio.Event()
        self._gone = asyncio.Event()

    # -- from the protocol ---------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > _RAW_BUFFER:
            self._flow.pause_reading()
        self._readable.set()

    def feed_eof(self) -> None:
        self._eof = True
        self._readable.set()

    def lost(self) -> None:
        self._lost = True
        self._eof = True
        self._readable.set()
        self._gone.set()
        self._flow.resume_writing()  # wake a writer waiting for room: it finds the loss

    # -- for the caller ------------------------------------------------------------------------

    @property
    def lost_connection(self) -> bool:
        """Whether the connection is gone (both ways)."""
        return self._lost

    async def wait_lost(self) -> None:
        """Return once the connection is gone."""
        await self._gone.wait()

    async def read(self) -> bytes:
        """The bytes that came since the last read; b"" once the client closed its side."""
        while not self._buffer and not self._eof:
            self._readable.clear()
            await self._readable.wait()
        data = bytes(self._buffer)
        self._buffer.clear()
        self._flow.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        """Send bytes, waiting while the client reads slower than we write."""
        if self._lost:
            raise ConnectionResetError("the client went away")
        self._transport.write(data)
        if self._flow.write_paused:
            await self._flow.drain()

    def close(self) -> None:
        """Close the connection (what was written is sent first)."""
        self._transport.close()
