"""/apps/{app}/domains: list, add (the app becomes public), remove."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.api.ranges import Ranges

router = APIRouter()
DOMAINS = Ranges(fields=("hostname", "id"), default="hostname")


@router.get("/apps/{app}/domains")  # emp domains, heroku domains
async def domains(app: str, c: Ctx) -> JSONResponse:
    page = DOMAINS.parse(c.range)
    window = replace(page, max=page.max + 1)
    current, items = await c.call(c.empire.domains_of, app, window, by=c.user)
    key = (lambda d: d.hostname) if page.field == "hostname" else (lambda d: d.id)
    return render.page(items, page, DOMAINS, lambda d: render.domain_json(current, d), key)


@router.get("/apps/{app}/domains/{hostname}")
async def domain(app: str, hostname: str, c: Ctx) -> dict[str, Any]:
    return render.domain_json(*await c.call(c.empire.domain, app, hostname, by=c.user))


@router.post(  # emp domain-add, heroku domains:add
    "/apps/{app}/domains", status_code=201, openapi_extra=bodies.ADD_DOMAIN
)
async def add_domain(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    hostname = string(obj(body), "hostname")
    assert hostname is not None
    added = await c.call(c.empire.add_domain, app, hostname, by=c.user, message=c.message)
    return render.domain_json(*added)


@router.delete("/apps/{app}/domains/{hostname}")  # emp domain-remove
async def remove_domain(app: str, hostname: str, c: Ctx) -> dict[str, Any]:
    removed = await c.call(c.empire.remove_domain, app, hostname, by=c.user, message=c.message)
    return render.domain_json(*removed)
