"""POST /apps/{app}/dynos with `"attach": true`: an attached run as Empire's own `emp` 0.13.0
asks for it (reference empire.md §1.5), next to the WebSocket `emp` uses (`api/attach.py`).

There is no Upgrade header: once the run has started, the server takes the connection over
from HTTP (`api/server.py`), writes its own `HTTP/1.1 200 OK` and headers, and from then on
the socket is raw both ways. The client's bytes are the process's stdin, its half-close
(`CloseWrite`) the end of it; the process's output comes back merged, or, when the request
carries a non-empty `X-Multiplex` header, in Docker's stdcopy frames (an 8-byte header: stream
1 stdout or 2 stderr, three zero bytes, the length as a big-endian uint32; then the bytes).
Empire ran attached processes with a terminal, so does this: everything is stdout, its size
taken from the `LINES` and `COLUMNS` the client sends in `env`. The server closes the
connection when the process has exited. An error before the takeover is a plain JSON error;
after it, its text ends the stream.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import Response

from empire.api.attach import END_OF_INPUT, Input, end, pump
from empire.api.context import Context
from empire.api.server import HIJACK, RawConnection
from empire.errors import EmpireError, NotSupported
from empire.model import RunRequest
from empire.scheduler import Attachment

log = logging.getLogger("empire.api")
RAW = b"application/vnd.empire.raw-stream"
MULTIPLEXED = b"application/vnd.empire.stdcopy-stream"
_MAX_SIZE = 10_000


async def run_attached(c: Context, request: Request, app: str, run: RunRequest) -> Response:
    """Start the run, take the connection over and carry the session until the process ends
    or the client goes; the response returned is never sent."""
    take: Any = request.scope.get(HIJACK)
    if take is None:  # a server that cannot hand connections over (an in-process test client)
        raise NotSupported(
            "this server cannot take over the connection for an attached run on POST "
            f"/apps/{app}/dynos: connect a WebSocket to /apps/{app}/attach, as `emp run` does, "
            "or run detached with `emp run -d`"
        )
    slot = c.stream_slot()
    rows, cols = _dimension(run.env.get("LINES")), _dimension(run.env.get("COLUMNS"))
    try:
        with anyio.CancelScope(shield=True):  # whatever happens, we get the attachment to end
            attachment = await c.call(
                c.empire.run_attached,
                app,
                dataclasses.replace(run, attach=True),
                tty=True,
                rows=rows,
                cols=cols,
                by=c.user,
                message=c.message,
            )
    except BaseException:
        slot.release()
        raise
    connection: RawConnection = take()
    try:
        multiplex = bool(request.headers.get("x-multiplex"))
        request_id = str(request.scope.get("empire.request_id", "")).encode()
        await connection.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nRequest-Id: %s\r\n\r\n"
            % (MULTIPLEXED if multiplex else RAW, request_id)
        )
        await _session(connection, attachment, multiplex)
    except OSError:
        pass  # the client went away: the process is killed below
    finally:
        await end(attachment, slot)
        connection.close()
    return Response(status_code=200)


async def _session(connection: RawConnection, attachment: Attachment, multiplex: bool) -> None:
    ended = False

    async def receive() -> Input | None:
        nonlocal ended
        if ended:  # stdin is closed: wait for the client to go, if it goes before the process
            await connection.wait_lost()
            return None
        data = await connection.read()
        if data:
            return data
        if connection.lost_connection:
            return None
        ended = True
        return END_OF_INPUT

    async def send(stream: int, data: bytes) -> None:
        await connection.write(frame(stream, data) if multiplex else data)

    try:
        await pump(attachment, receive, send)
    except* EmpireError as group:
        failure = group.exceptions[0]
        assert isinstance(failure, EmpireError)
        log.warning("attached run %s failed: %s", attachment.name, failure.message)
        await connection.write(failure.message.encode() + b"\r\n")


def frame(stream: int, data: bytes) -> bytes:
    """One Docker stdcopy frame."""
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def _dimension(value: str | None) -> int | None:
    if value is None or not value.isdigit() or not 0 < int(value) <= _MAX_SIZE:
        return None
    return int(value)
