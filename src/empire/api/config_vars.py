"""/apps/{app}/config-vars: show, merge (null unsets), history per release."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from empire.api import bodies
from empire.api.context import Ctx, obj
from empire.errors import Invalid

router = APIRouter()


@router.get("/apps/{app}/config-vars")  # emp env, heroku config
async def config(app: str, c: Ctx) -> dict[str, str]:
    return await c.call(c.empire.config, app, by=c.user)


@router.get("/apps/{app}/config-vars/{version}")  # emp env -v N
async def config_at(app: str, version: str, c: Ctx) -> dict[str, str]:
    return await c.call(c.empire.config, app, version, by=c.user)


@router.patch(  # emp set/unset/env-load, heroku config:set
    "/apps/{app}/config-vars", openapi_extra=bodies.UPDATE_CONFIG
)
async def update_config(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, str]:
    changes: dict[str, str | None] = {}
    for key, value in obj(body).items():
        if value is not None and not isinstance(value, str):
            raise Invalid(
                f"config var {key!r} must be a string or null (to unset it), "
                f"got {type(value).__name__}"
            )
        changes[key] = value
    return await c.call(c.empire.set_config, app, changes, by=c.user, message=c.message)
