"""The metrics middleware: times every API request, and serves `/metrics` to the scrapers
let in without a user's token.

It sits outside the gate. Each request is timed to its response's first byte and counted by
its route template (`GET /apps/{app}`, what the router matched; `other` when no route took it:
refused before routing, unknown path) and status class, never by its raw path.

`GET /metrics` from an address in `allow` (EMPIRE_METRICS_ALLOW) or with the metrics token
(EMPIRE_METRICS_TOKEN, as a Bearer token) is answered here, before the gate asks for a user's
token; any other goes through the gate (401 without a valid token) to the route, which lets
admins only (403 for the others).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Sequence

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from empire.api.metrics import CONTENT_TYPE
from empire.metrics.registry import UNROUTED, Metrics

PATH = "/metrics"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Instrument:
    """ASGI middleware: see the module."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        allow: Sequence[Network] = (),
        token: str | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.allow = tuple(allow)
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if scope["path"] == PATH and scope["method"] == "GET" and self._let_in(scope):
            await self._serve(send)
            self.metrics.observe_api(f"GET {PATH}", 200, time.perf_counter() - started)
            return
        observed = False

        async def timed(message: Message) -> None:
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                route = scope.get("route")
                path = getattr(route, "path", None)
                name = f"{scope['method']} {path}" if path else UNROUTED
                self.metrics.observe_api(name, message["status"], time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed)

    def _let_in(self, scope: Scope) -> bool:
        """Whether the scraper needs no user's token: its address, or the metrics token."""
        if self.token:
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    scheme, _, given = value.decode("latin-1").partition(" ")
                    if scheme.lower() == "bearer" and hmac.compare_digest(
                        given.strip().encode(), self.token.encode()
                    ):
                        return True
        client = scope.get("client")
        if not self.allow or not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # an IPv4 client of a server listening on ::
        return any(address in network for network in self.allow)

    async def _serve(self, send: Send) -> None:
        body = await to_thread.run_sync(self.metrics.render)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
