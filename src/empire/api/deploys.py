"""POST /deploys and /apps/{app}/deploys: newline-delimited JSON in Docker's jsonmessage shape.

The deploy runs in a thread of its own (`api.streams`) and reports typed progress events
(`empire.progress`); this module alone turns them into the wire format. Messages are held back
until the release is created (or for at most a second, so a long pull still shows progress),
so that a deploy that fails early (a missing image, a bad Procfile) answers with a proper 4xx
error instead of an error inside a 200 stream. A client that goes away leaves the deploy to
finish; the token's stream slot is held until it has.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Body, Request
from fastapi.responses import Response, StreamingResponse

from empire.api import bodies, errors
from empire.api.context import Context, Ctx, obj, string
from empire.api.streams import Channel, Ended, drain, start
from empire.errors import EmpireError, Invalid
from empire.progress import Event, Failed, PhaseOutput, Pulled, ReleaseCreated, Status

log = logging.getLogger("empire.api")
router = APIRouter()
HOLD_SECONDS = 1.0
MEDIA_TYPE = "application/json; boundary=NL"
BUFFER = 10_000  # events kept for a slow client; past that, more are dropped, never waited for


@dataclass(frozen=True, slots=True)
class _Refused:
    """The deploy raised: before anything was sent it is a plain error response."""

    error: EmpireError


@router.post("/deploys", openapi_extra=bodies.DEPLOY)  # emp deploy IMAGE
async def deploy(c: Ctx, request: Request, body: Any = Body(default=None)) -> Response:
    return await deploy_stream(c, request, body, None)


@router.post("/apps/{app}/deploys", openapi_extra=bodies.DEPLOY_TO_APP)  # emp deploy -a APP IMAGE
async def deploy_to_app(
    app: str, c: Ctx, request: Request, body: Any = Body(default=None)
) -> Response:
    return await deploy_stream(c, request, body, app)


def _parse(body: Any) -> tuple[str, bool]:
    """`{"image": "repo[:tag|@digest]", "stream": bool}`; stream adds the scheduler's lines."""
    data = obj(body)
    image = string(data, "image")
    assert image is not None
    stream = data.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise Invalid(f"field 'stream' must be true or false, got {type(stream).__name__}")
    return image, bool(stream)


async def deploy_stream(c: Context, request: Request, body: Any, app: str | None) -> Response:
    """Run a deploy in a thread of its own and answer with its progress stream (or a plain
    error when it fails before anything was sent). The dashboard's deploy form uses it too."""
    image, stream = _parse(body)
    slot = c.stream_slot()
    channel: Channel[Event | _Refused] = Channel(asyncio.get_running_loop(), BUFFER)

    def emit(event: Event) -> None:
        channel.put(event, wait=False)

    def work() -> None:
        try:
            c.call_sync(
                c.empire.deploy,
                image,
                app=app,
                by=c.user,
                message=c.message,
                progress=emit,
                stream=stream,
            )
        except EmpireError as exc:
            channel.put(_Refused(exc), wait=False)
        except Exception as exc:
            log.exception("deploy failed")
            channel.put(_Refused(EmpireError(f"internal error: {exc}")), wait=False)
        finally:
            slot.release()
            channel.finish()

    start("empire-deploy", work)
    held: list[Event | _Refused] = []
    with anyio.move_on_after(HOLD_SECONDS):
        while not held or not isinstance(held[-1], ReleaseCreated | _Refused):
            try:
                held.append(await channel.get())
            except Ended:
                break
    if held and isinstance(held[-1], _Refused):  # nothing was sent yet: a plain error
        channel.close()
        return errors.from_exception(held[-1].error)
    return StreamingResponse(_lines(held, channel), media_type=MEDIA_TYPE)


async def _lines(
    held: list[Event | _Refused], channel: Channel[Event | _Refused]
) -> AsyncIterator[bytes]:
    for item in held:
        yield _line(item)
    async for item in drain(channel):
        yield _line(item)


def _line(item: Event | _Refused) -> bytes:
    return json.dumps(wire(item.error if isinstance(item, _Refused) else item)).encode() + b"\n"


def wire(event: Event | EmpireError) -> dict[str, Any]:
    """One progress event as a Docker jsonmessage, as Empire and `emp` 0.13.0 speak them."""
    if isinstance(event, EmpireError):
        event = Failed(event.message)
    match event:
        case Pulled(message):
            return dict(message)
        case Status(text):
            return {"status": f"Status: {text}"}
        case ReleaseCreated(version, app):
            return {"status": f"Status: Created new release v{version} for {app}"}
        case PhaseOutput(line):
            return {"stream": f"{line}\n"}
        case Failed(reason):
            return {"errorDetail": {"message": reason}, "error": reason}
