"""/apps/{app}/builds: build from a source tarball and release; list and show builds.

`POST /apps/{app}/builds` takes the source itself as the body: a tar or tar.gz of a directory
with a Dockerfile at its root (`Content-Type: application/x-tar`, `application/gzip` or
`application/octet-stream`), up to EMPIRE_BUILD_MAX_SOURCE bytes. Heroku's two-step
`source_blob.url` (upload somewhere, then point at it) is not served: a JSON body is refused
with a message saying so. The answer is the build's progress as newline-delimited JSON, like a
deploy's (`api.deploys`): the build's output as `stream` lines, then the deploy's Status lines,
an `error` line when the build or its release failed. A bad source (no Dockerfile, a path
leaving the context, over the size cap) is a plain 400 before any build is recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from empire.api import errors, render
from empire.api.context import Context, Ctx
from empire.api.deploys import wire
from empire.api.streams import Channel, Ended, drain, follow, start
from empire.builds import Build, BuildEvent, BuildOutput, BuildStarted
from empire.errors import EmpireError, Invalid
from empire.progress import Event

log = logging.getLogger("empire.api")
router = APIRouter()
MEDIA_TYPE = "application/json; boundary=NL"
HOLD_SECONDS = 5.0  # the source is checked before BuildStarted: a refusal is a plain 4xx
BUFFER = 10_000
SOURCE_TYPES = ("application/x-tar", "application/tar", "application/gzip", "application/x-gzip")


@dataclass(frozen=True, slots=True)
class _Refused:
    error: EmpireError


Item = Event | BuildEvent | _Refused


@router.post("/apps/{app}/builds")  # emp deploy DIR
async def create_build(app: str, c: Ctx, request: Request) -> Response:
    source = await request.body()
    _check_type(request.headers.get("content-type", ""), source)
    commit = request.headers.get("build-commit", "").strip()
    return await stream_build(
        c,
        lambda emit: c.call_sync(
            c.empire.build,
            app,
            source,
            by=c.user,
            message=c.message,
            commit=commit,
            progress=emit,
        ),
    )


async def stream_build(c: Context | None, run: Callable[[Callable[[Any], None]], Any]) -> Response:
    """Run a build (`run(emit)`, in a thread of its own) and answer with its progress; a
    refusal before the build started is a plain error response."""
    slot = c.stream_slot() if c is not None else None
    channel: Channel[Item] = Channel(asyncio.get_running_loop(), BUFFER)

    def emit(event: Event | BuildEvent) -> None:
        channel.put(event, wait=False)

    def work() -> None:
        try:
            run(emit)
        except EmpireError as exc:
            channel.put(_Refused(exc), wait=False)
        except Exception as exc:
            log.exception("build failed")
            channel.put(_Refused(EmpireError(f"internal error: {exc}")), wait=False)
        finally:
            if slot is not None:
                slot.release()
            channel.finish()

    start("empire-build", work)
    held: list[Item] = []
    with anyio.move_on_after(HOLD_SECONDS):
        while not held or not isinstance(held[-1], BuildStarted | _Refused):
            try:
                held.append(await channel.get())
            except Ended:
                break
    if held and isinstance(held[-1], _Refused):
        channel.close()
        return errors.from_exception(held[-1].error)
    headers = {}
    started = next((item for item in held if isinstance(item, BuildStarted)), None)
    if started is not None:
        headers["Build-Id"] = started.build_id
    return StreamingResponse(_lines(held, channel), media_type=MEDIA_TYPE, headers=headers)


@router.get("/apps/{app}/builds")  # emp builds
async def list_builds(app: str, c: Ctx, request: Request) -> JSONResponse:
    builds = await c.call(c.empire.builds, app, by=c.user)
    base = str(request.base_url)
    return render.FastJSONResponse([build_json(build, base) for build in builds])


@router.get("/apps/{app}/builds/{build}")
async def build_info(app: str, build: str, c: Ctx, request: Request) -> dict[str, Any]:
    found = await c.call(c.empire.build_info, app, build, by=c.user)
    return build_json(found, str(request.base_url))


@router.get("/apps/{app}/builds/{build}/output")  # the build's output_stream_url
async def build_output(app: str, build: str, c: Ctx) -> StreamingResponse:
    """The build's output (bounded), as text: all of it once it ended; while it runs, the
    lines so far, then each as it comes, until the build ends."""
    lines = await c.call(c.empire.follow_build, app, build, by=c.user)
    channel = follow(lines, c.stream_slot(), "empire-build-output")

    async def text() -> AsyncIterator[bytes]:
        async for line in drain(channel):
            yield line.encode() + b"\n"

    return StreamingResponse(text(), media_type="text/plain; charset=utf-8")


def build_json(build: Build, base_url: str) -> dict[str, Any]:
    """A build as Heroku shows one (`stack` is `container`: builds are Dockerfile builds)."""
    release = (
        None
        if build.release_id is None
        else {"id": build.release_id, "version": build.release_version}
    )
    base = base_url.rstrip("/")
    return {
        "id": build.id,
        "app": {"id": build.app_id, "name": build.app_name},
        "status": str(build.status),
        "created_at": render.when(build.created_at),
        "updated_at": render.when(build.updated_at),
        "user": {"id": build.user_id, "email": build.user_name},
        "source_blob": {
            "checksum": build.checksum or None,
            "url": None,
            "version": build.commit or None,
            "size": build.source_bytes,
        },
        "output_stream_url": f"{base}/apps/{build.app_name}/builds/{build.id}/output",
        "release": release,
        "image": build.image or None,
        "failure_reason": build.reason or None,
        "buildpacks": None,
        "stack": "container",
    }


def _check_type(content_type: str, source: bytes) -> None:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json" or source[:1] in (b"{", b"["):
        raise Invalid(
            "send the source itself as the request body (a tar or tar.gz with a Dockerfile, "
            "Content-Type: application/x-tar): source_blob.url is not served"
        )
    if kind and kind not in (*SOURCE_TYPES, "application/octet-stream"):
        raise Invalid(f"unsupported Content-Type {kind!r}: send application/x-tar or gzip")


async def _lines(held: list[Item], channel: Channel[Item]) -> AsyncIterator[bytes]:
    for item in held:
        yield _line(item)
    async for item in drain(channel):
        yield _line(item)


def _line(item: Item) -> bytes:
    return json.dumps(wire_build(item)).encode() + b"\n"


def wire_build(item: Item) -> dict[str, Any]:
    """A build's event as a Docker jsonmessage (`emp` prints `stream` and `status`)."""
    if isinstance(item, _Refused):
        return wire(item.error)
    if isinstance(item, BuildStarted):
        return {
            "status": f"Status: Build {item.build_id} started for {item.app}",
            "aux": {"build": item.build_id},
        }
    if isinstance(item, BuildOutput):
        return {"stream": item.line + "\n"}
    return wire(item)
