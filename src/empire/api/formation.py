"""/apps/{app}/formation: show and scale (quantity and size per process type)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from empire import sizes
from empire.api import bodies, render
from empire.api.context import Ctx, obj
from empire.api.ranges import Ranges
from empire.errors import Invalid, NotFound
from empire.model import App, Process, ScaleUpdate

router = APIRouter()
_EXAMPLE = '{"type": "web", "quantity": 2}'
FORMATION = Ranges(fields=("type", "id"), default="type")
_INTEGER = re.compile(r"^\s*-?[0-9]+\s*$")


def _update(item: Any, process: str | None = None) -> ScaleUpdate:
    if process is None and not isinstance(item, dict):
        raise Invalid(f"each update must be an object such as {_EXAMPLE}, got {item!r}")
    data = obj(item)
    name = process or data.get("process") or data.get("type")
    if not isinstance(name, str) or not name:
        raise Invalid(f"each update needs a process type: {_EXAMPLE}")
    quantity = data.get("quantity")
    if isinstance(quantity, str):
        if not _INTEGER.match(quantity):
            raise Invalid(f"invalid quantity {quantity!r} for {name}: use a whole number")
        digits = quantity.strip()
        # int() refuses thousands of digits; any number this long is past the bound the use
        # case checks (and names), so a stand-in of the same sign will do.
        huge = -(10**21) if digits.startswith("-") else 10**21
        quantity = int(digits) if len(digits) <= 20 else huge
    elif quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)):
        raise Invalid(f"invalid quantity {quantity!r} for {name}: use a whole number")
    size = data.get("size")
    if size is not None and not isinstance(size, str):
        raise Invalid(f"invalid size {size!r} for {name}: use 1X, 2X, PX or cpu:memory")
    return ScaleUpdate(name, quantity, sizes.parse(size) if size else None)


@router.get("/apps/{app}/formation")  # emp scale -l, heroku ps:scale
async def formation(app: str, c: Ctx) -> JSONResponse:
    page = FORMATION.parse(c.range)
    current, all_processes = await c.call(c.empire.formation_of, app, by=c.user)
    key = (lambda p: p.name) if page.field == "type" else (lambda p: _id(current, p))
    processes = render.window(all_processes, page, key)
    return render.page(
        processes,
        page,
        FORMATION,
        lambda p: render.formation_json(current, p, current.updated_at),
        key,
    )


@router.get("/apps/{app}/formation/{process}")  # heroku3 formation by type or id
async def formation_one(app: str, process: str, c: Ctx) -> dict[str, Any]:
    current, processes = await c.call(c.empire.formation_of, app, by=c.user)
    for p in processes:
        if process in (p.name, render.formation_id(current, p.name)):
            return render.formation_json(current, p, current.updated_at)
    raise NotFound(
        f"Couldn't find that formation: no process type {process!r} in {current.name}",
        resource="formation",
    )


@router.patch("/apps/{app}/formation", openapi_extra=bodies.SCALE)  # emp scale, heroku ps:scale
async def scale(app: str, c: Ctx, body: Any = Body(default=None)) -> list[dict[str, Any]]:
    updates = obj(body).get("updates")
    if not isinstance(updates, list):
        raise Invalid(f"field 'updates' must be a list: {{\"updates\": [{_EXAMPLE}]}}")
    parsed = [_update(u) for u in updates]
    current, processes = await c.call(c.empire.scale, app, parsed, by=c.user, message=c.message)
    return [render.formation_json(current, p, current.updated_at) for p in processes]


@router.patch(  # heroku3 scale/resize_formation_process
    "/apps/{app}/formation/{process}", openapi_extra=bodies.SCALE_ONE
)
async def scale_one(
    app: str, process: str, c: Ctx, body: Any = Body(default=None)
) -> dict[str, Any]:
    """The process is named by its type or by its formation id (the use case knows both)."""
    update = _update(body, process)
    current, [changed] = await c.call(c.empire.scale, app, [update], by=c.user, message=c.message)
    return render.formation_json(current, changed, current.updated_at)


def _id(app: App, process: Process) -> str:
    return render.formation_id(app, process.name)
