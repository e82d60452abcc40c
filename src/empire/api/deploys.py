"""POST /deploys and /apps/{app}/deploys: newline-delimited JSON in Docker's jsonmessage shape.

Messages are held back until the release is created (or for at most a second, so a long pull
still shows progress), so that a deploy that fails early (a missing image, a bad Procfile)
answers with a proper 4xx error instead of an error inside a 200 stream.
"""

from __future__ import annotations

import contextvars
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import Response, StreamingResponse

from empire.api import bodies, errors
from empire.api.context import Ctx, obj, string
from empire.core import StatusFn
from empire.errors import EmpireError, Invalid

log = logging.getLogger("empire.api")
router = APIRouter()
HOLD_SECONDS = 1.0
_DONE = object()
MEDIA_TYPE = "application/json; boundary=NL"


class _Failed:
    def __init__(self, error: EmpireError) -> None:
        self.error = error


@router.post("/deploys", openapi_extra=bodies.DEPLOY)  # emp deploy IMAGE
def deploy(c: Ctx, body: Any = Body(default=None)) -> Response:
    image, stream = _parse(body)
    return _stream(
        lambda status: c.empire.deploy(
            image, by=c.user, message=c.message, status=status, stream=stream
        )
    )


@router.post("/apps/{app}/deploys", openapi_extra=bodies.DEPLOY_TO_APP)  # emp deploy -a APP IMAGE
def deploy_to_app(app: str, c: Ctx, body: Any = Body(default=None)) -> Response:
    image, stream = _parse(body)
    c.empire.app(app, by=c.user)
    return _stream(
        lambda status: c.empire.deploy(
            image, app=app, by=c.user, message=c.message, status=status, stream=stream
        )
    )


def _parse(body: Any) -> tuple[str, bool]:
    """`{"image": "repo[:tag|@digest]", "stream": bool}`; stream adds the scheduler's lines."""
    data = obj(body)
    image = string(data, "image")
    assert image is not None
    stream = data.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise Invalid(f"field 'stream' must be true or false, got {type(stream).__name__}")
    return image, bool(stream)


def _stream(run: Callable[[StatusFn], object]) -> Response:
    messages: queue.Queue[Any] = queue.Queue()

    def work() -> None:
        try:
            run(messages.put)
        except EmpireError as exc:
            messages.put(_Failed(exc))
        except Exception as exc:
            log.exception("deploy failed")
            messages.put(_Failed(EmpireError(f"internal error: {exc}")))
        finally:
            messages.put(_DONE)

    # In a copy of this context: the deploy's events carry the request's id.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name="deploy", daemon=True).start()
    held: list[Any] = []
    deadline = time.monotonic() + HOLD_SECONDS
    while True:
        try:
            item = messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if isinstance(item, _Failed):  # nothing was sent yet: answer with a plain error
            return errors.from_exception(item.error)
        held.append(item)
        if item is _DONE or _created(item):
            break
    return StreamingResponse(_lines(held, messages), media_type=MEDIA_TYPE)


def _created(item: Any) -> bool:
    return isinstance(item, dict) and "Created new release" in str(item.get("status", ""))


def _lines(held: list[Any], messages: queue.Queue[Any]) -> Iterator[bytes]:
    def items() -> Iterator[Any]:
        yield from held
        if _DONE in held:
            return
        while (item := messages.get()) is not _DONE:
            yield item

    for item in items():
        if item is _DONE:
            return
        if isinstance(item, _Failed):
            text = item.error.message
            item = {"errorDetail": {"message": text}, "error": text}
        yield json.dumps(item).encode() + b"\n"
