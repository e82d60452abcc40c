"""What every handler receives: the facade, the authenticated user and the commit message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from empire.core import Empire
from empire.errors import Invalid
from empire.model import User


@dataclass(frozen=True, slots=True)
class Context:
    empire: Empire
    user: User
    message: str | None
    range: str | None


async def context(request: Request) -> Context:
    """Build the handler context from the request (the middleware authenticated it).

    Async because it never blocks: a sync dependency would cost a thread hop per request.
    """
    message = request.headers.get("commit-message")
    if message and "\x00" in message:  # no store keeps one (PostgreSQL refuses it)
        raise Invalid("the Commit-Message header must not contain NUL characters")
    return Context(
        empire=request.app.state.empire,
        user=request.state.user,
        message=message.strip() if message and message.strip() else None,
        range=request.headers.get("range"),
    )


Ctx = Annotated[Context, Depends(context)]


def string(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """Return a string field of a JSON body, or raise Invalid naming the field."""
    value = body.get(key)
    if value is None:
        if required:
            raise Invalid(f"missing field {key!r} in the request body")
        return None
    if not isinstance(value, str):
        raise Invalid(f"field {key!r} must be a string, got {type(value).__name__}")
    if "\x00" in value:  # no name, command or certificate has one, and PostgreSQL refuses it
        raise Invalid(f"field {key!r} must not contain NUL characters (\\u0000)")
    return value


def obj(body: Any) -> dict[str, Any]:
    """Check a JSON body is an object (a body sent without a JSON Content-Type is parsed too)."""
    if isinstance(body, bytes | bytearray):
        body = _decode(bytes(body))
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Invalid(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Invalid(f"malformed JSON in the request body: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise Invalid(f"malformed JSON in the request body: {exc.reason}") from exc
