"""WebSocket /apps/{app}/attach: an attached one-off run (`emp run` without -d).

The gate authenticates the handshake like any request (Authorization: Bearer or Basic; a
refusal is an HTTP 401 before the upgrade); a `Commit-Message` header is honoured. Then:

1. client → server, text: the request, JSON
   `{"command": "...", "env": {...}?, "size": "1X"?, "tty": bool, "rows": int?, "cols": int?}`.
2. server → client, text: `{"dyno": "<task name>"}` once the process has started; or
   `{"error": {"id", "message", "url"}}`, then a close with code 4000 + the HTTP status the
   error has elsewhere in the API (4400, 4404, 4501, ...).
3. Both ways until the process exits:
   - server → client, binary: `<1 byte stream id><payload>`, stream 1 stdout, 2 stderr (with
     a TTY everything is stdout);
   - client → server, binary: bytes for the process's stdin;
   - client → server, text: `{"resize": [rows, cols]}` (the terminal's new size) or
     `{"eof": true}` (stdin is closed: the process reads end of file).
4. server → client, text: `{"exit": <code>}` (null when the task was removed before its code
   could be read), then a normal close (1000).

A client that goes away at any point has its process killed and removed; so does a request
that arrives too late (`FIRST_MESSAGE_TIMEOUT`). The scheduler's blocking calls run in worker
threads, with a limiter per session so long sessions never hold the server's shared pool.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio import to_thread
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from empire import sizes
from empire.api import errors
from empire.api.limits import Slot, StreamSlots, TooManyRequests
from empire.core import Empire
from empire.errors import EmpireError, Invalid
from empire.model import RunRequest, User
from empire.scheduler import Attachment

router = APIRouter()
log = logging.getLogger("empire.api")
FIRST_MESSAGE_TIMEOUT = 30.0
_MAX_SIZE = 10_000


@router.websocket("/apps/{app}/attach")
async def attach(websocket: WebSocket, app: str) -> None:
    empire: Empire = websocket.app.state.empire
    user: User = websocket.state.user
    header = websocket.headers.get("commit-message")
    message = header.strip() if header and header.strip() else None
    await websocket.accept()
    if message is not None and "\x00" in message:  # as api/context.py refuses it
        refusal = Invalid("the Commit-Message header must not contain NUL characters")
        await _refuse(websocket, refusal)
        return
    try:
        with anyio.fail_after(FIRST_MESSAGE_TIMEOUT):
            first = await websocket.receive()
    except TimeoutError:
        await _refuse(websocket, Invalid("no run request received: send it as the first message"))
        return
    if first["type"] == "websocket.disconnect":
        return
    streams: StreamSlots = websocket.app.state.streams
    try:
        request, tty, rows, cols = _parse(first.get("text"))
        slot = streams.take(websocket.state.token_key)
    except (EmpireError, TooManyRequests) as exc:
        await _refuse(websocket, exc)
        return
    try:
        attachment = await start(
            lambda: empire.run_attached(
                app, request, tty=tty, rows=rows, cols=cols, by=user, message=message
            )
        )
    except BaseException as exc:
        slot.release()
        if not isinstance(exc, EmpireError):
            raise
        await _refuse(websocket, exc)
        return
    ended = False
    try:
        finished, code = await _session(websocket, attachment)
        await end(attachment, slot)  # before the client hears of it: its slot is back
        ended = True
        if finished:
            await _exit(websocket, code)
    finally:
        if not ended:
            await end(attachment, slot)


async def start(run_attached: Callable[[], Attachment]) -> Attachment:
    """Start an attached run in a worker thread; shielded, so whatever happens the caller
    gets the attachment to `end`."""
    with anyio.CancelScope(shield=True):
        attachment = await to_thread.run_sync(run_attached)
    return attachment


async def end(attachment: Attachment, slot: Slot) -> None:
    """Kill and remove the attached run, and give its stream slot back."""
    with anyio.CancelScope(shield=True):
        try:
            await to_thread.run_sync(attachment.kill)
        except Exception:
            log.exception("cannot remove the attached run %s", attachment.name)
        finally:
            slot.release()


@dataclass(frozen=True, slots=True)
class Resize:
    """The client's terminal has a new size."""

    rows: int
    cols: int


class _EndOfInput:
    """The client's stdin has ended: the process reads end of file."""


END_OF_INPUT = _EndOfInput()
Input = bytes | Resize | _EndOfInput


async def pump(
    attachment: Attachment,
    receive: Callable[[], Awaitable[Input | None]],
    send: Callable[[int, bytes], Awaitable[None]],
) -> tuple[bool, int | None]:
    """Carry an attached session over any transport: the process's output to `send` (stream,
    bytes) until it ends, the client's input from `receive` (None: the client has gone) to the
    process meanwhile. Returns True and the exit code (None when the task was removed before
    it could be read), or False when the client went away first.

    The attachment's blocking calls run in worker threads, each direction with a limiter of
    its own, so a long session never holds a token of the server's shared pool."""
    inbound = anyio.CapacityLimiter(1)
    outbound = anyio.CapacityLimiter(1)
    chunks = iter(attachment.output())

    async def forward_input(done: anyio.CancelScope) -> None:
        while True:
            item = await receive()
            if item is None:
                done.cancel()  # the client is gone: stop waiting for output
                return
            if isinstance(item, bytes):
                await to_thread.run_sync(attachment.write, item, limiter=inbound)
            elif isinstance(item, Resize):
                await to_thread.run_sync(attachment.resize, item.rows, item.cols, limiter=inbound)
            else:
                await to_thread.run_sync(attachment.close_stdin, limiter=inbound)

    async with anyio.create_task_group() as group:
        group.start_soon(forward_input, group.cancel_scope)
        while True:
            chunk = await to_thread.run_sync(
                next, chunks, None, limiter=outbound, abandon_on_cancel=True
            )
            if chunk is None:
                break
            await send(*chunk)
        code = await to_thread.run_sync(
            attachment.wait, None, limiter=outbound, abandon_on_cancel=True
        )
        group.cancel_scope.cancel()
        return True, code
    return False, None  # cancelled: the client went away


async def _session(websocket: WebSocket, attachment: Attachment) -> tuple[bool, int | None]:
    """Pump output and input until the process exits (True and its exit code) or the client
    goes (False)."""

    async def receive() -> Input | None:
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return None
            data = event.get("bytes")
            if data is not None:
                return bytes(data)
            control = _control(event.get("text"))
            if control is not None:
                return control

    async def send(stream: int, data: bytes) -> None:
        await websocket.send_bytes(bytes([stream]) + data)

    finished, code = False, None
    try:
        await websocket.send_text(json.dumps({"dyno": attachment.name}))
        finished, code = await pump(attachment, receive, send)
    except* (WebSocketDisconnect, OSError):
        pass  # the client went away mid-send: the caller kills the process
    return finished, code


async def _exit(websocket: WebSocket, code: int | None) -> None:
    """Send the exit code (null: the task was removed before it could be read) and close
    normally, unless the client has gone."""
    if websocket.client_state is not WebSocketState.CONNECTED:
        return
    try:
        await websocket.send_text(json.dumps({"exit": code}))
        await websocket.close(1000)
    except (WebSocketDisconnect, OSError):
        pass


def _control(text: str | None) -> Resize | _EndOfInput | None:
    """A client's text message: a resize or the end of stdin; None for anything else."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    resize = data.get("resize")
    if (
        isinstance(resize, list)
        and len(resize) == 2
        and all(isinstance(n, int) and 0 < n <= _MAX_SIZE for n in resize)
    ):
        return Resize(resize[0], resize[1])
    if data.get("eof") is True:
        return END_OF_INPUT
    return None


def _parse(text: str | None) -> tuple[RunRequest, bool, int | None, int | None]:
    """Read the run request of the first message."""
    if text is None:
        raise Invalid("the first message must be the run request as JSON text")
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise Invalid(f"malformed JSON in the run request: {exc}") from exc
    if not isinstance(data, dict):
        raise Invalid(f"the run request must be a JSON object, got {type(data).__name__}")
    command = data.get("command")
    if not isinstance(command, str) or not command.strip():
        raise Invalid("missing field 'command' in the run request: e.g. emp run bash")
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise Invalid("field 'env' must be an object of strings")
    size = data.get("size")
    if size is not None and not isinstance(size, str):
        raise Invalid(f"field 'size' must be a string, got {type(size).__name__}")
    tty = data.get("tty", False)
    if not isinstance(tty, bool):
        raise Invalid(f"field 'tty' must be a boolean, got {type(tty).__name__}")
    rows, cols = _dimension(data, "rows"), _dimension(data, "cols")
    request = RunRequest(command, env=env, size=sizes.parse(size) if size else None, attach=True)
    return request, tty, rows, cols


def _dimension(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_SIZE:
        raise Invalid(f"field {key!r} must be a number of characters from 1 to {_MAX_SIZE}")
    return value


async def _refuse(websocket: WebSocket, exc: EmpireError | TooManyRequests) -> None:
    """Send the error as `{"error": ...}` and close with 4000 + its HTTP status."""
    if isinstance(exc, TooManyRequests):
        status, ident = 429, "rate_limit"
    else:
        status, ident = errors.status_of(exc)
    body = errors.body(ident, exc.message)
    if websocket.client_state is not WebSocketState.CONNECTED:
        return
    try:
        await websocket.send_text(json.dumps({"error": body}))
        reason = exc.message.encode()[:120].decode(errors="ignore")  # a close reason: ≤ 123 bytes
        await websocket.close(4000 + status, reason)
    except (WebSocketDisconnect, OSError):
        pass
