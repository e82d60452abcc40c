"""The dashboard's pages: sign-in, the apps list, an app's page and the forms on it.

Handlers parse, make one facade call as the signed-in user, and render a template (Jinja2,
autoescaped: names, values, messages and log lines are text, never markup). A browser with no
session is sent to the sign-in form, which brings it back where it was going. Every POST
needs the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from jinja2 import Environment, PackageLoader, select_autoescape

from empire.api import deploys, errors, streams
from empire.api.auth import Logins
from empire.api.context import Context
from empire.api.metrics import app_metrics_json
from empire.core import Empire, hash_token
from empire.errors import EmpireError, Invalid
from empire.model import ScaleUpdate
from empire.scheduler import LogQuery
from empire.usecases.dashboard import APPS_SHOWN
from empire.web import session
from empire.web.session import Session

router = APIRouter(include_in_schema=False)
T = TypeVar("T")
MAX_FORM = 64 * 1024
WATCH_SECONDS = 3.0  # how often an open app page looks for changes

templates = Environment(
    loader=PackageLoader("empire.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def wants_html(request: Request) -> bool:
    """A browser asking for a page (API clients send the Heroku media type or JSON)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/vnd.heroku+json" not in accept


def render(name: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, **values)
    response = HTMLResponse(html, status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-security-policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["referrer-policy"] = "same-origin"
    return response


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path if request.method == "GET" else request.headers.get("referer", "")
    return RedirectResponse("/login?next=" + quote(_local(target), safe="/"), status_code=303)


def _local(target: str) -> str:
    """Where to go after signing in: only a dashboard path of this server."""
    if "://" in target:
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    if not target.startswith("/ui/") or target.startswith("//") or "\\" in target:
        return "/ui/apps"
    return target


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body (bounded), each field's first value."""
    raw = await request.body()
    if len(raw) > MAX_FORM:
        raise Invalid(f"form too large: at most {MAX_FORM} bytes")
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


async def call(fn: Callable[[], T]) -> T:
    return await to_thread.run_sync(fn)


# -- sign-in ----------------------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request) -> Response:
    next_page = _local(request.query_params.get("next", ""))
    return render("login.html", request, next=next_page, error=None, username="")


@router.post("/login")
async def login(request: Request) -> Response:
    if not session.same_origin(request):
        return _csrf_refused(request)
    empire: Empire = request.app.state.empire
    logins: Logins = request.app.state.logins
    data = await form(request)
    name, password = data.get("username", ""), data.get("password", "")
    next_page = _local(data.get("next", ""))
    address = request.client.host if request.client else "unknown"
    try:
        _, secret = await logins.run(
            address,
            name,
            lambda: empire.login(
                name, password, session.DESCRIPTION, session.SESSION_TTL, session=True
            ),
        )
    except EmpireError as exc:
        status, _ = errors.status_of(exc)
        return render(
            "login.html", request, status, next=next_page, error=exc.message, username=name
        )
    response = RedirectResponse(next_page, status_code=303)
    session.set_cookie(response, request, secret)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    current = await session.current(request)
    if current is not None:
        data = await form(request)
        if not session.same_origin(request) or not session.csrf_ok(
            current, data.get(session.CSRF_FIELD)
        ):
            return _csrf_refused(request)
        empire: Empire = request.app.state.empire
        await call(lambda: empire.sign_out(current.secret))
    response = RedirectResponse("/login", status_code=303)
    session.clear_cookie(response, request)
    return response


def _csrf_refused(request: Request) -> Response:
    message = "this form has expired or did not come from this dashboard: reload the page"
    if wants_html(request):
        return render("error.html", request, 403, message=message, user=None)
    return errors.response(403, "forbidden", message)


# -- pages ------------------------------------------------------------------------------------


@router.get("/ui")
@router.get("/ui/apps")
async def apps_page(request: Request) -> Response:
    current = await session.current(request)
    if current is None:
        return to_login(request)
    empire: Empire = request.app.state.empire
    after = request.query_params.get("after", "")[:100]
    rows = await call(lambda: empire.app_rows(after, by=current.user))
    more = rows[-1].app.name if len(rows) == APPS_SHOWN else None
    return render("apps.html", request, user=current.user, csrf=current.csrf, rows=rows, more=more)


@router.get("/ui/apps/{app}")
async def app_page(app: str, request: Request) -> Response:
    current = await session.current(request)
    if current is None:
        return to_login(request)
    return await _app_page(app, request, current)


async def _app_page(
    app: str, request: Request, current: Session, error: str | None = None, status: int = 200
) -> Response:
    empire: Empire = request.app.state.empire
    try:
        page = await call(lambda: empire.app_page(app, by=current.user))
    except EmpireError as exc:
        code, _ = errors.status_of(exc)
        return render("error.html", request, code, message=exc.message, user=current.user)
    return render(
        "app.html",
        request,
        status,
        user=current.user,
        csrf=current.csrf,
        page=page,
        error=error,
        previous=_previous(page.releases),
    )


def _previous(releases: list[Any]) -> dict[int, Any]:
    """Each release's predecessor in the list (newest first), to say what changed."""
    return {r.version: releases[i + 1] for i, r in enumerate(releases[:-1])}


# -- forms ------------------------------------------------------------------------------------


async def _post(
    app: str, request: Request, change: Callable[[Empire, Session, dict[str, str]], object]
) -> Response:
    """Check the session and CSRF token, make the change, go back to the app page (or show
    it again with the error, the form's values kept by the browser)."""
    current = await session.current(request)
    if current is None:
        return to_login(request)
    data = await form(request)
    if not session.same_origin(request) or not session.csrf_ok(
        current, data.get(session.CSRF_FIELD)
    ):
        return _csrf_refused(request)
    empire: Empire = request.app.state.empire
    try:
        await call(lambda: change(empire, current, data))
    except EmpireError as exc:
        status, _ = errors.status_of(exc)
        return await _app_page(app, request, current, error=exc.message, status=status)
    return RedirectResponse(f"/ui/apps/{quote(app)}", status_code=303)


def _message(data: dict[str, str]) -> str | None:
    return data.get("message", "").strip() or None


@router.post("/ui/apps/{app}/scale")
async def scale(app: str, request: Request) -> Response:
    def change(empire: Empire, current: Session, data: dict[str, str]) -> object:
        process = data.get("process", "")
        quantity = data.get("quantity", "")
        if not quantity.isdigit() or len(quantity) > 4:
            raise Invalid(f"quantity must be a whole number from 0, got {quantity!r}")
        update = ScaleUpdate(process, int(quantity))
        return empire.scale(app, [update], by=current.user, message=_message(data))

    return await _post(app, request, change)


@router.post("/ui/apps/{app}/rollback")
async def rollback(app: str, request: Request) -> Response:
    def change(empire: Empire, current: Session, data: dict[str, str]) -> object:
        version = data.get("version", "")
        return empire.rollback(app, version, by=current.user, message=_message(data))

    return await _post(app, request, change)


@router.post("/ui/apps/{app}/config")
async def config(app: str, request: Request) -> Response:
    def change(empire: Empire, current: Session, data: dict[str, str]) -> object:
        name = data.get("name", "").strip()
        if not name:
            raise Invalid("a config var needs a name")
        value: str | None = None if "unset" in data else data.get("value", "")
        return empire.set_config(app, {name: value}, by=current.user, message=_message(data))

    return await _post(app, request, change)


@router.get("/ui/apps/{app}/config")
async def reveal(app: str, request: Request) -> Response:
    """The config values, for a deployer's reveal button (JSON, never cached)."""
    current = await session.current(request)
    if current is None:
        return errors.response(401, "unauthorized", "sign in again")
    if not session.csrf_ok(current, request.headers.get(session.CSRF_HEADER)):
        return _csrf_refused(request)
    empire: Empire = request.app.state.empire
    try:
        values = await call(lambda: empire.config(app, by=current.user))
    except EmpireError as exc:
        return errors.from_exception(exc)
    return JSONResponse(values, headers={"cache-control": "no-store"})


@router.post("/ui/apps/{app}/deploy")
async def deploy(app: str, request: Request) -> Response:
    """Deploy an image with live progress: the API's deploy stream (newline-delimited JSON),
    read by the page's script."""
    current = await session.current(request)
    if current is None:
        return errors.response(401, "unauthorized", "your session has ended: sign in again")
    if not session.same_origin(request) or not session.csrf_ok(
        current, request.headers.get(session.CSRF_HEADER)
    ):
        return _csrf_refused(request)
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return errors.response(400, "bad_request", 'send {"image": "repo:tag"}')
    return await deploys.deploy_stream(_context(request, current), request, body, app)


def _context(request: Request, current: Session) -> Context:
    return Context(
        empire=request.app.state.empire,
        user=current.user,
        message=None,
        range=None,
        token_key=hash_token(current.secret),
        streams=request.app.state.streams,
    )


# -- live -------------------------------------------------------------------------------------


@router.get("/ui/apps/{app}/metrics")
async def metrics(app: str, request: Request) -> Response:
    """The app's figures and last hour, minute by minute, for the page's charts (the JSON of
    GET /apps/{app}/metrics)."""
    current = await session.current(request)
    if current is None:
        return errors.response(401, "unauthorized", "your session has ended: sign in again")
    empire: Empire = request.app.state.empire
    try:
        view = await call(lambda: empire.app_metrics(app, by=current.user, minutes=5))
    except EmpireError as exc:
        return errors.from_exception(exc)
    return JSONResponse(app_metrics_json(view), headers={"cache-control": "no-store"})


@router.get("/ui/apps/{app}/logs")
async def logs(app: str, request: Request) -> Response:
    """The app's log, followed, as server-sent events (one line each)."""
    current = await session.current(request)
    if current is None:
        return errors.response(401, "unauthorized", "your session has ended: sign in again")
    process = request.query_params.get("process") or None
    c = _context(request, current)
    slot = c.stream_slot()
    try:
        lines = await c.call(
            c.empire.logs, app, LogQuery(follow=True, lines=200, process=process), by=c.user
        )
    except BaseException:
        slot.release()
        raise
    channel = streams.follow(lines, slot, "empire-dashboard-logs")
    return StreamingResponse(_sse(channel), media_type="text/event-stream")


async def _sse(channel: streams.Channel[str]) -> AsyncIterator[bytes]:
    async for line in streams.drain(channel):
        yield "".join(f"data: {part}\n" for part in line.split("\n")).encode() + b"\n"


@router.get("/ui/apps/{app}/watch")
async def watch(app: str, request: Request) -> Response:
    """Server-sent `changed` events while the page is open: a deploy, scale, rollback, config
    change or an instance's state change (the page then reloads its parts)."""
    current = await session.current(request)
    if current is None:
        return errors.response(401, "unauthorized", "your session has ended: sign in again")
    c = _context(request, current)
    slot = c.stream_slot()
    empire = c.empire

    def fingerprint() -> str:
        page = empire.app_page(app, by=current.user)
        releases = [(r.version, r.outcome.value) for r in page.releases[:3]]
        tasks = sorted((t.name, t.state) for t in page.tasks)
        counts = [(p.name, p.quantity) for p in page.processes]
        return json.dumps([releases, tasks, counts, sorted(page.config)])

    async def events() -> AsyncIterator[bytes]:
        try:
            seen = await call(fingerprint)
            yield b": watching\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(WATCH_SECONDS)
                now = await call(fingerprint)
                if now != seen:
                    seen = now
                    yield b"event: changed\ndata: {}\n\n"
                else:
                    yield b": idle\n\n"
        except EmpireError:
            yield b"event: gone\ndata: {}\n\n"
        finally:
            slot.release()

    return StreamingResponse(events(), media_type="text/event-stream")
