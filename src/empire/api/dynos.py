"""/apps/{app}/dynos: ps, one-off runs, restart and stop. Tasks are dynos on the wire."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from empire import sizes
from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.api.hijack import run_attached
from empire.api.ranges import Ranges
from empire.errors import Invalid
from empire.model import RunRequest

router = APIRouter()
DYNOS = Ranges(fields=("name", "id"), default="name")


@router.get("/apps/{app}/dynos")  # emp ps, heroku ps
async def dynos(app: str, c: Ctx) -> JSONResponse:
    page = DYNOS.parse(c.range)
    current, tasks = await c.call(c.empire.dynos, app, by=c.user)
    tasks = render.window(tasks, page, lambda t: t.name)
    return render.page(tasks, page, DYNOS, lambda t: render.dyno_json(current, t), lambda t: t.name)


@router.get("/apps/{app}/dynos/{dyno}")  # heroku run (polls its dyno)
async def dyno(app: str, dyno: str, c: Ctx) -> dict[str, Any]:
    return render.dyno_json(*await c.call(c.empire.dyno, app, dyno, by=c.user))


@router.post(  # emp run -d, heroku run:detached; Go emp run (attached): see api/hijack.py
    "/apps/{app}/dynos", status_code=201, response_model=None, openapi_extra=bodies.RUN
)
async def run(app: str, c: Ctx, request: Request, body: Any = Body(default=None)) -> Response:
    data = obj(body)
    command = string(data, "command")
    assert command is not None
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise Invalid("field 'env' must be an object of strings")
    size = string(data, "size", required=False)
    run = RunRequest(command, env=env, size=sizes.parse(size) if size else None)
    if data.get("attach"):
        return await run_attached(c, request, app, run)
    current, task = await c.call(c.empire.run, app, run, by=c.user, message=c.message)
    return JSONResponse(render.dyno_json(current, task), status_code=201)


@router.delete("/apps/{app}/dynos", status_code=202)  # emp restart, heroku ps:restart
async def restart_all(app: str, c: Ctx) -> dict[str, Any]:
    await c.call(c.empire.restart, app, by=c.user, message=c.message)
    return {}


@router.delete("/apps/{app}/formations/{process}", status_code=202)  # heroku ps:restart -p
async def restart_process(app: str, process: str, c: Ctx) -> dict[str, Any]:
    await c.call(c.empire.restart, app, process, by=c.user, message=c.message)
    return {}


@router.delete("/apps/{app}/dynos/{dyno}", status_code=202)  # emp restart X, heroku ps:restart
async def restart_dyno(app: str, dyno: str, c: Ctx) -> dict[str, Any]:
    """A process type restarts all its instances (emp restart web); a dyno is stopped, and
    replaced while its process is scaled up (emp restart v3.web.1, heroku ps:restart -d web.1)."""
    await c.call(c.empire.restart_dyno, app, dyno, by=c.user, message=c.message)
    return {}
