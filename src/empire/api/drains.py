"""/apps/{app}/log-drains: list, info, add, remove (Heroku's log drains; `heroku drains`,
`drains:add`, `drains:remove`, `emp drains`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from empire.api import render
from empire.api.bodies import _body, _string
from empire.api.context import Ctx, obj, string
from empire.drains.rules import Drain
from empire.model import App

router = APIRouter()

ADD_DRAIN = _body(
    "AddLogDrain",
    "Where to forward the app's log lines: syslog://host:port, syslog+tls://host:port "
    "(RFC 5424, octet-counted) or https://host/path (logplex batches).",
    {
        "properties": {"url": _string("the drain's URL", minLength=1, maxLength=2048)},
        "required": ["url"],
    },
    {"add": ("Add a syslog drain over TLS", {"url": "syslog+tls://logs.example.com:6514"})},
)


def drain_json(app: App, drain: Drain) -> dict[str, Any]:
    """A drain as Heroku renders one (never from an add-on here)."""
    return {
        "id": drain.id,
        "url": drain.url,
        "token": drain.token,
        "addon": None,
        "app": render.ref(app),
        "created_at": render.when(drain.created_at),
        "updated_at": render.when(drain.updated_at),
    }


@router.get("/apps/{app}/log-drains")  # emp drains, heroku drains
async def drains(app: str, c: Ctx) -> list[dict[str, Any]]:
    current, items = await c.call(c.empire.drains, app, by=c.user)
    return [drain_json(current, d) for d in items]


@router.get("/apps/{app}/log-drains/{key:path}")
async def drain(app: str, key: str, c: Ctx) -> dict[str, Any]:
    return drain_json(*await c.call(c.empire.drain, app, key, by=c.user))


@router.post(  # emp drains-add, heroku drains:add
    "/apps/{app}/log-drains", status_code=201, openapi_extra=ADD_DRAIN
)
async def add_drain(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    url = string(obj(body), "url")
    assert url is not None
    return drain_json(*await c.call(c.empire.add_drain, app, url, by=c.user, message=c.message))


@router.delete("/apps/{app}/log-drains/{key:path}")  # emp drains-remove, heroku drains:remove
async def remove_drain(app: str, key: str, c: Ctx) -> dict[str, Any]:
    removed = await c.call(c.empire.remove_drain, app, key, by=c.user, message=c.message)
    return drain_json(*removed)
