"""/apps/{app}/releases: list, info, rollback; config vars of a release."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from empire.api import bodies, render
from empire.api.context import Ctx, obj
from empire.api.ranges import Ranges
from empire.errors import Invalid, NotSupported

router = APIRouter()
RELEASES = Ranges(fields=("version", "id"), default="version", numeric=("version",))


@router.get("/apps/{app}/releases")  # emp releases, heroku releases
async def list_releases(app: str, c: Ctx) -> JSONResponse:
    page = RELEASES.parse(c.range)
    window = replace(page, max=page.max + 1)
    releases = await c.call(c.empire.releases, app, window, by=c.user)
    key = (lambda r: str(r.version)) if page.field == "version" else (lambda r: r.id)
    return render.page(releases, page, RELEASES, render.release_json, key)


@router.get("/apps/{app}/releases/{version}")  # emp release-info, heroku releases:info
async def release_info(app: str, version: str, c: Ctx, request: Request) -> dict[str, Any]:
    release = await c.call(c.empire.release, app, version, by=c.user)
    return render.with_output_url(render.release_json(release), release, str(request.base_url))


@router.get("/apps/{app}/releases/{version}/output")  # the release's output_stream_url
async def release_output(app: str, version: str, c: Ctx) -> PlainTextResponse:
    """What the release phase printed (its last lines), as text."""
    release = await c.call(c.empire.release, app, version, by=c.user)
    text = release.phase_output + ("\n" if release.phase_output else "")
    return PlainTextResponse(text)


@router.get("/apps/{app}/releases/{version}/config-vars")  # heroku releases:info
async def release_config(app: str, version: str, c: Ctx) -> dict[str, str]:
    return await c.call(c.empire.config, app, version, by=c.user)


@router.post(  # emp rollback, heroku rollback
    "/apps/{app}/releases", status_code=201, openapi_extra=bodies.ROLLBACK
)
async def rollback(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    data = obj(body)
    target = data.get("release")
    if target is None:
        if "slug" in data:
            raise NotSupported("releases are made by deploying an image: use emp deploy IMAGE")
        raise Invalid("missing field 'release': the version or id of the release to roll back to")
    if isinstance(target, int) and not isinstance(target, bool):
        target = str(target)
    if not isinstance(target, str):
        raise Invalid("field 'release' must be a version (e.g. \"3\") or a release id")
    release = await c.call(c.empire.rollback, app, target, by=c.user, message=c.message)
    return render.release_json(release)
