"""The dashboard's sessions: an API token in a cookie, and the CSRF token derived from it.

Signing in (`/login`) checks the password through the same facade call and rate limits as
`emp login`, and issues a token that expires after `SESSION_TTL`; the cookie holds its
secret (HttpOnly, SameSite=Lax, Secure when the request came over TLS). Signing out revokes
it. Every state-changing request must carry the CSRF token, which a page of another site
cannot read, and comes from a page of this origin (`Origin`, when the browser sends it). It
needs no server-side state, so it survives a restart of Empire as the session does. A
session's secret is no API token (the gate refuses it), and its CSRF token is an HMAC under
the server's secret key, not derivable from the cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from empire.api.gate import RATE_LIMITED, RateLimiter
from empire.api.limits import TooManyRequests
from empire.core import Empire, hash_token, is_session
from empire.errors import EmpireError
from empire.model import User

COOKIE = "empire_session"
SECURE_COOKIE = "__Host-empire_session"  # over TLS: no sibling subdomain can set or shadow it
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = timedelta(hours=12)
DESCRIPTION = "dashboard session"
RETRY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: who, with which token secret, and the CSRF token it must send
    (`Empire.csrf_proof`: an HMAC under the server's secret key, not derivable from the
    cookie)."""

    user: User
    secret: str
    csrf: str


async def current(request: Request) -> Session | None:
    """The request's session, or None (no cookie, or a token expired, revoked or unknown).

    A session's requests count against its token's rate limit, as the API's do: past it,
    TooManyRequests (429 with Retry-After)."""
    secret = request.cookies.get(cookie_name(request))
    if not secret or len(secret) > 200 or not is_session(secret):
        return None
    empire: Empire = request.app.state.empire
    user = empire.cached_user(secret)
    if user is None:
        try:
            user = await to_thread.run_sync(empire.authenticate, secret)
        except EmpireError:
            return None
    limiter: RateLimiter = request.app.state.rate_limiter
    if limiter.take(hash_token(secret)) < 0:
        raise TooManyRequests(RATE_LIMITED, RETRY_SECONDS)
    return Session(user, secret, empire.csrf_proof(secret))


def same_origin(request: Request) -> bool:
    """Whether a state-changing request came from a page of this dashboard, as far as the
    browser says: `Sec-Fetch-Site` and `Origin` when sent (every current browser sends them
    on a cross-site POST). Refuses a cross-site sign-in too (login CSRF), which carries no
    CSRF token to check."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    scheme = "https" if secure(request) else request.url.scheme
    return origin == f"{scheme}://{request.headers.get('host', '')}"


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")


def secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly or through a proxy that says so)."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    return proto.split(",")[0].strip() == "https"


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if secure(request) else COOKIE


def set_cookie(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(
        cookie_name(request),
        secret,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookie_name(request), path="/", httponly=True, samesite="lax", secure=secure(request)
    )
