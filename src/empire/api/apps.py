"""/apps: list, create, info, update (rename, maintenance), destroy; /account stubs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from empire.api import bodies, errors, render
from empire.api.context import Ctx, obj, string
from empire.api.ranges import Ranges
from empire.core import AppChanges
from empire.errors import Invalid

router = APIRouter()
APPS = Ranges(fields=("name", "id"), default="name")
EMPTY = Ranges(fields=("id",), default="id")
JsonBody = Body(default=None)


async def _list(c: Ctx) -> JSONResponse:
    page = APPS.parse(c.range)
    apps = await c.call(c.empire.apps, replace(page, max=page.max + 1), by=c.user)
    key = (lambda a: a.name) if page.field == "name" else (lambda a: a.id)
    return render.page(apps, page, APPS, lambda a: render.app_json(a, c.user), key)


@router.get("/apps")  # emp apps
async def list_apps(c: Ctx) -> JSONResponse:
    return await _list(c)


@router.get("/users/{user}/apps")  # heroku apps
async def list_user_apps(user: str, c: Ctx) -> JSONResponse:
    return await _list(c)


@router.post(  # emp create, heroku apps:create
    "/apps", status_code=201, openapi_extra=bodies.CREATE_APP
)
@router.post(  # Go emp create
    "/organizations/apps", status_code=201, openapi_extra=bodies.CREATE_APP
)
async def create_app(c: Ctx, body: Any = JsonBody) -> dict[str, Any]:
    name = string(obj(body), "name")
    assert name is not None
    created = await c.call(c.empire.create, name, by=c.user, message=c.message)
    return render.app_json(created, c.user)


@router.get("/apps/{app}")  # emp info
async def app_info(app: str, c: Ctx) -> dict[str, Any]:
    return render.app_json(await c.call(c.empire.app, app, by=c.user), c.user)


@router.patch(  # emp rename, maintenance-enable/disable
    "/apps/{app}", openapi_extra=bodies.UPDATE_APP
)
async def update_app(app: str, c: Ctx, body: Any = JsonBody) -> dict[str, Any]:
    data = obj(body)
    maintenance = data.get("maintenance")
    if "maintenance" in data and not isinstance(maintenance, bool):
        raise Invalid("field 'maintenance' must be true or false")
    changes = AppChanges(
        maintenance=maintenance,
        cert=string(data, "cert", required=False) or None,
        name=string(data, "name", required=False),
    )
    updated = await c.call(c.empire.update_app, app, changes, by=c.user, message=c.message)
    return render.app_json(updated, c.user)


@router.delete("/apps/{app}")  # emp destroy
async def destroy_app(app: str, c: Ctx) -> dict[str, Any]:
    return render.app_json(
        await c.call(c.empire.destroy, app, by=c.user, message=c.message), c.user
    )


@router.post("/apps/{app}/certs", openapi_extra=bodies.ATTACH_CERT)  # emp cert-attach
async def attach_cert(app: str, c: Ctx, body: Any = JsonBody) -> dict[str, Any]:
    data = obj(body)
    cert = string(data, "cert")
    process = string(data, "process", required=False) or "web"
    assert cert is not None
    await c.call(c.empire.attach_cert, app, cert, process=process, by=c.user, message=c.message)
    return {}


@router.get("/account")  # heroku apps, ps, run
async def account(c: Ctx) -> dict[str, Any]:
    return {
        "id": c.user.id,
        "email": c.user.email,
        "name": c.user.name,
        "allow_tracking": False,
        "beta": False,
        "verified": True,
        "two_factor_authentication": False,
        "created_at": None,
        "updated_at": None,
        "last_login": None,
    }


@router.get("/account/rate-limits")  # heroku3 from_key
async def rate_limits(request: Request, c: Ctx) -> dict[str, Any]:
    return {"remaining": request.state.rate_limit_remaining}


@router.get("/apps/{app}/addons")  # heroku apps:info
@router.get("/apps/{app}/addon-attachments")  # heroku addons -a APP
@router.get("/apps/{app}/sni-endpoints")  # heroku domains:add
async def empty_list(app: str, c: Ctx) -> JSONResponse:
    """What Empire has none of (add-ons, their attachments, SNI endpoints): an empty list,
    for an app the caller can view."""
    page = EMPTY.parse(c.range)
    await c.call(c.empire.app, app, by=c.user)
    return render.page([], page, EMPTY, lambda _: {}, str)


@router.get("/addons")  # heroku addons --all
@router.get("/addon-attachments")  # heroku addons
async def no_addons(c: Ctx) -> JSONResponse:
    """Empire has no add-ons: an empty list across all apps."""
    return render.page([], EMPTY.parse(c.range), EMPTY, lambda _: {}, str)


@router.api_route("/apps/{app}/ssl-endpoints", methods=["GET", "POST"], include_in_schema=False)
@router.api_route(
    "/apps/{app}/ssl-endpoints/{cert}", methods=["GET", "PATCH", "DELETE"], include_in_schema=False
)
async def ssl_endpoints(app: str, c: Ctx) -> JSONResponse:  # removed in Empire 0.10
    return errors.response(
        404,
        "not_found",
        "ssl-endpoints are not supported: attach a certificate to a process with "
        "`emp cert-attach CERT` (POST /apps/{app}/certs)",
    )
