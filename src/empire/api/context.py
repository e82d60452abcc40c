"""What every handler receives: the facade, the authenticated user and the commit message,
and the one way to call the facade (`Context.call`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar

from anyio import to_thread
from fastapi import Depends, Request

from empire.api.limits import Slot, StreamSlots
from empire.core import STORE_READS, Empire
from empire.errors import Invalid
from empire.model import User

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Context:
    """One request's view of the facade. A handler makes one facade call per request, through
    `call` (or `call_sync` from a thread of the request's own): that call checks every role the
    request needs before it changes anything, so a refusal never follows a change."""

    empire: Empire
    user: User
    message: str | None
    range: str | None
    token_key: str = ""
    streams: StreamSlots | None = None
    _calls: list[str] = field(default_factory=list)

    async def call(self, use_case: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the request's use case where it belongs: one marked `@store_reads` on the event
        loop (its round trips awaited, no thread hop), any other in a worker thread of the
        server's pool, so a write can never block the loop."""
        self._count(use_case)
        if getattr(use_case, STORE_READS, False):
            return await self.empire.read(use_case, *args, **kwargs)
        return await to_thread.run_sync(lambda: use_case(*args, **kwargs))

    def call_sync(self, use_case: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the request's use case in the calling thread: a thread the request started for
        long work (a deploy), never the event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._count(use_case)
            return use_case(*args, **kwargs)
        raise RuntimeError("call_sync runs on the event loop: use `await Context.call(...)`")

    def stream_slot(self) -> Slot:
        """Take one of the token's stream slots (log follows, deploys, attached runs), or
        raise TooManyRequests."""
        assert self.streams is not None
        return self.streams.take(self.token_key)

    def _count(self, use_case: Callable[..., Any]) -> None:
        name = getattr(use_case, "__name__", repr(use_case))
        if self._calls:
            raise RuntimeError(
                f"one facade call per request: {name} after {self._calls[0]} (make one use "
                "case that checks every permission first)"
            )
        self._calls.append(name)


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
        token_key=request.state.token_key,
        streams=request.app.state.streams,
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
