"""/oauth/authorizations: log in with a user name and password, list and revoke tokens.

`POST` is open (the gate lets it through): it authenticates with Basic user:password itself,
as Empire and `heroku login -i` do, and answers with a new API token.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Request

from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.core import Empire
from empire.errors import Unauthorized
from empire.model import Token

router = APIRouter()


def token_json(token: Token, now: datetime, secret: str | None = None) -> dict[str, Any]:
    expires_in = int((token.expires_at - now).total_seconds()) if token.expires_at else None
    return {
        "id": token.id,
        "description": token.description,
        "scope": ["global"],
        "created_at": render.when(token.created_at),
        "updated_at": render.when(token.created_at),
        "access_token": {"id": token.id, "token": secret, "expires_in": expires_in},
        "user": {"id": token.user.id, "email": token.user.email, "name": token.user.name},
    }


@router.post(  # emp login, heroku login -i
    "/oauth/authorizations", status_code=201, openapi_extra=bodies.LOGIN
)
def login(request: Request, body: Any = Body(default=None)) -> dict[str, Any]:
    empire: Empire = request.app.state.empire
    name, password = _basic(request.headers.get("authorization", ""))
    description = string(obj(body), "description", required=False) or ""
    token, secret = empire.login(name, password, description)
    return token_json(token, empire.clock(), secret)


@router.get("/oauth/authorizations")  # emp tokens
def tokens(c: Ctx) -> list[dict[str, Any]]:
    now = c.empire.clock()
    return [token_json(token, now) for token in c.empire.tokens(c.user)]


@router.delete("/oauth/authorizations/{token_id}")  # emp tokens-revoke
def revoke(token_id: str, c: Ctx) -> dict[str, Any]:
    c.empire.revoke_token(c.user, token_id)
    return {}


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            name, sep, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if sep and name and password:
            return name, password
    raise Unauthorized(
        "log in with your user name and password (HTTP Basic): emp login, or heroku login -i"
    )
