"""/oauth/authorizations: log in with a user name and password, list and revoke tokens.

`POST` is open (the gate lets it through): it authenticates with Basic user:password itself,
as Empire and `heroku login -i` do, and answers with a new API token. Logins are limited per
client address and per user name (429 with `Retry-After` past it), and their password checks
(bcrypt: slow on purpose) run on a small executor of their own (`Logins`), so a flood of
logins never takes the threads that serve everyone else's requests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Body, Request

from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.api.limits import Buckets, TooManyRequests, retry_after
from empire.core import Empire
from empire.errors import Unauthorized
from empire.model import Token

router = APIRouter()
T = TypeVar("T")


class Logins:
    """Where password logins run, and how many are let through.

    Each client address may try `per_address[0]` logins at once, then one more every
    `per_address[1]` seconds; each user name likewise with `per_user`. Admitted logins run on
    `workers` threads of their own (default: half the CPUs), at most `max_pending` of them
    queued; past that a login is refused at once rather than queued behind a flood."""

    def __init__(
        self,
        *,
        per_address: tuple[int, float] = (20, 3.0),
        per_user: tuple[int, float] = (5, 60.0),
        workers: int | None = None,
        max_pending: int = 32,
    ) -> None:
        self.addresses = Buckets(*per_address)
        self.users = Buckets(*per_user)
        self.workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self.max_pending = max_pending
        self._executor: ThreadPoolExecutor | None = None
        self._pending = 0  # touched on the event loop only

    async def run(self, address: str, name: str, login: Callable[[], T]) -> T:
        """Admit one login attempt and run it on the login executor, or raise
        TooManyRequests saying which limit was reached."""
        wait = self.addresses.take(address)
        if wait:
            raise TooManyRequests(
                f"too many login attempts from {address}: try again in {retry_after(wait)} s",
                retry_after(wait),
            )
        wait = self.users.take(name.lower())
        if wait:
            raise TooManyRequests(
                f"too many login attempts for {name}: try again in {retry_after(wait)} s",
                retry_after(wait),
            )
        if self._pending >= self.max_pending:
            raise TooManyRequests(
                "too many logins in progress on this server: try again in a second", 1
            )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="empire-login")
        self._pending += 1
        try:
            context = contextvars.copy_context()  # the request id goes with it
            return await asyncio.wrap_future(self._executor.submit(context.run, login))
        finally:
            self._pending -= 1


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
async def login(request: Request, body: Any = Body(default=None)) -> dict[str, Any]:
    empire: Empire = request.app.state.empire
    logins: Logins = request.app.state.logins
    name, password = _basic(request.headers.get("authorization", ""))
    description = string(obj(body), "description", required=False) or ""
    address = request.client.host if request.client else "unknown"
    token, secret = await logins.run(
        address, name, lambda: empire.login(name, password, description)
    )
    return token_json(token, empire.clock(), secret)


@router.get("/oauth/authorizations")  # emp tokens
async def tokens(c: Ctx) -> list[dict[str, Any]]:
    now = c.empire.clock()
    return [token_json(token, now) for token in await c.call(c.empire.tokens, c.user)]


@router.delete("/oauth/authorizations/{token_id}")  # emp tokens-revoke
async def revoke(token_id: str, c: Ctx) -> dict[str, Any]:
    await c.call(c.empire.revoke_token, c.user, token_id)
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
