"""The Heroku Platform API transport: parse, call one facade method, render.

`create_app(empire)` returns the ASGI application. The gate in front of every route assigns the
request id, authenticates (before anything else), limits the body size and the request rate.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from empire.api import (
    access,
    apps,
    attach,
    audit,
    auth,
    builds,
    config_vars,
    deploys,
    domains,
    drains,
    dynos,
    formation,
    git,
    logs,
    releases,
    teams,
)
from empire.api import errors as api_errors
from empire.api import metrics as metrics_api
from empire.api.gate import Gate, RateLimiter
from empire.api.limits import StreamSlots, TooManyRequests, too_many_handler
from empire.core import Empire
from empire.errors import EmpireError
from empire.web import STATIC
from empire.web import pages as web_pages

if TYPE_CHECKING:  # prometheus_client loads only when metrics are on
    from empire.metrics.registry import Metrics

log = logging.getLogger("empire.api")


def create_app(
    empire: Empire,
    *,
    max_body_bytes: int = 1 << 20,
    rate_per_hour: int = 4500,
    streams_per_token: int = 10,
    body_timeout: float = 30.0,
    logins: auth.Logins | None = None,
    metrics: Metrics | None = None,
    metrics_allow: Sequence[str] = (),
    metrics_token: str | None = None,
    max_source_bytes: int = 100 << 20,
    git_root: Path | None = None,
    git_timeout: float = 2400.0,
) -> FastAPI:
    """Build the API around the facade.

    `streams_per_token` bounds the log follows, deploys and attached runs one API token has
    open at once (0: no bound); `body_timeout` is how long a request body may take to arrive;
    `logins` limits password logins (per client address and user name) and runs them;
    `max_source_bytes` bounds a build's source (`POST /apps/{app}/builds`, a git push);
    `git_root` holds the apps' git repositories (None: no `git push`), `git_timeout` is how
    long one push may take, its build and release included. `metrics` times every request
    and serves `/metrics` (to admins, to `metrics_token` and to the addresses in
    `metrics_allow`, CIDRs) and each app's figures.
    """
    app = FastAPI(
        title="Empire",
        version="0.1.0",
        description="A self-hosted platform-as-a-service speaking the Heroku Platform API.",
        redoc_url=None,
        docs_url=None,  # served below from the package: no CDN, so it works offline
    )
    app.state.empire = empire
    app.state.rate_limiter = RateLimiter(rate_per_hour)
    app.state.log_sessions = logs.Sessions()
    app.state.streams = StreamSlots(streams_per_token)
    app.state.logins = logins or auth.Logins()
    app.state.metrics = metrics
    app.state.git_root = git_root
    app.state.git_timeout = git_timeout
    app.state.git_max_source = max_source_bytes
    app.state.git_pushes = git.Pushes()
    # Routes are matched in this order, one by one (a dozen matches cost ~0.1 ms): the most
    # requested first. No two routes match the same request (a test checks), so the order
    # changes nothing else.
    routers = (
        formation,
        config_vars,
        releases,
        apps,
        dynos,
        attach,
        domains,
        drains,
        deploys,
        logs,
        auth,
        audit,
        access,
        teams,
        metrics_api,
        builds,
        git,
    )
    for module in routers:
        app.include_router(module.router)
    app.include_router(logs.open_router)
    app.include_router(web_pages.router)
    app.mount("/static/ui", StaticFiles(directory=STATIC), name="dashboard-static")
    app.mount(
        "/static/docs",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-static",
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Empire API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/health")
    def health() -> dict[str, object]:
        return empire.health()

    @app.get("/apps/{app}/pipeline-couplings")
    def pipeline_couplings(app: str) -> JSONResponse:
        return api_errors.response(404, "not_found", "Couldn't find that pipeline coupling.")

    app.add_exception_handler(EmpireError, _empire_error)
    app.add_exception_handler(TooManyRequests, too_many_handler)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(
        Gate,
        empire=empire,
        limiter=app.state.rate_limiter,
        max_body_bytes=max_body_bytes,
        rate_per_hour=rate_per_hour,
        body_timeout=body_timeout,
        max_source_bytes=max_source_bytes,
        open_hook=lambda secret: app.state.git_pushes.get(secret) is not None,
    )
    if metrics is not None:  # outside the gate: times everything, lets scrapers in
        from empire.api.instrument import Instrument

        app.add_middleware(
            Instrument,
            metrics=metrics,
            allow=[ipaddress.ip_network(n, strict=False) for n in metrics_allow],
            token=metrics_token,
        )
    return app


async def _empire_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EmpireError)
    return api_errors.from_exception(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            ctx: dict[str, Any] = error.get("ctx") or {}
            return api_errors.response(
                400,
                "bad_request",
                f"malformed JSON in the request body: {ctx.get('error', 'invalid JSON')}",
            )
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg')}")
    return api_errors.response(400, "bad_request", "invalid request: " + "; ".join(problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such route: {request.method} {request.url.path}"
        return api_errors.response(404, "not_found", message)
    if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, say)
        reason = exc.__cause__ or exc.detail
        if isinstance(reason, UnicodeDecodeError):
            reason = f"{reason.reason} (send UTF-8 JSON)"
        return api_errors.response(
            400, "bad_request", f"malformed JSON in the request body: {reason}"
        )
    if exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
        return api_errors.response(405, "method_not_allowed", message)
    return api_errors.response(exc.status_code, "http_error", str(exc.detail))


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    request_id = request.scope.get("empire.request_id", "")
    return api_errors.response(
        500, "internal_error", f"internal server error; see the server log for request {request_id}"
    )
