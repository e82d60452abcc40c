"""/apps/{app}/audit: the app's audit trail, newest first unless the Range says otherwise."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from empire.api import render
from empire.api.context import Ctx
from empire.api.ranges import Ranges
from empire.events import Event

router = APIRouter()
EVENTS = Ranges(fields=("created_at",), default="created_at")


def event_json(event: Event) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "user": event.user,
        "app": event.app,
        "text": event.text,
        "message": event.message,
        "description": str(event),
        "created_at": render.when(event.at),
        "data": event.data,
        "request_id": event.request_id,
    }


@router.get("/apps/{app}/audit")  # emp audit
async def audit(app: str, c: Ctx) -> list[dict[str, Any]]:
    page = EVENTS.parse(c.range or "created_at ..; order=desc")
    return [event_json(event) for event in await c.call(c.empire.audit, app, page, by=c.user)]
