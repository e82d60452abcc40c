"""/apps/{app}/formation: show and scale (quantity and size per process type)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from empire import sizes
from empire.api import render
from empire.api.context import Ctx, obj
from empire.errors import Invalid, NotFound
from empire.model import ScaleUpdate

router = APIRouter()


def _update(item: Any, process: str | None = None) -> ScaleUpdate:
    data = obj(item)
    name = process or data.get("process") or data.get("type")
    if not isinstance(name, str) or not name:
        raise Invalid('each update needs a process type: {"type": "web", "quantity": 2}')
    quantity = data.get("quantity")
    if isinstance(quantity, str):
        if not quantity.strip().lstrip("-").isdigit():
            raise Invalid(f"invalid quantity {quantity!r} for {name}: use a whole number")
        quantity = int(quantity)
    elif quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)):
        raise Invalid(f"invalid quantity {quantity!r} for {name}: use a whole number")
    size = data.get("size")
    if size is not None and not isinstance(size, str):
        raise Invalid(f"invalid size {size!r} for {name}: use 1X, 2X, PX or cpu:memory")
    return ScaleUpdate(name, quantity, sizes.parse(size) if size else None)


def _render(c: Ctx, app: str, processes: list[Any]) -> list[dict[str, Any]]:
    current = c.empire.app(app)
    return [render.formation_json(current, p, current.updated_at) for p in processes]


@router.get("/apps/{app}/formation")  # emp scale -l, heroku ps:scale
def formation(app: str, c: Ctx) -> list[dict[str, Any]]:
    return _render(c, app, c.empire.formation(app))


@router.get("/apps/{app}/formation/{process}")
def formation_one(app: str, process: str, c: Ctx) -> dict[str, Any]:
    found = [p for p in c.empire.formation(app) if p.name == process]
    if not found:
        raise NotFound(f"Couldn't find that formation: no process type {process!r} in {app}")
    return _render(c, app, found)[0]


@router.patch("/apps/{app}/formation")  # emp scale, heroku ps:scale
def scale(app: str, c: Ctx, body: Any = Body(default=None)) -> list[dict[str, Any]]:
    updates = obj(body).get("updates")
    if not isinstance(updates, list):
        raise Invalid('field \'updates\' must be a list: {"updates": [{"type": "web", ...}]}')
    processes = c.empire.scale(app, [_update(u) for u in updates], by=c.user, message=c.message)
    return _render(c, app, processes)


@router.patch("/apps/{app}/formation/{process}")  # heroku3 scale_formation_process
def scale_one(app: str, process: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    processes = c.empire.scale(app, [_update(body, process)], by=c.user, message=c.message)
    return _render(c, app, processes)[0]
