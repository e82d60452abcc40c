"""/apps/{app}/dynos: ps, one-off runs, restart and stop. Tasks are dynos on the wire."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from empire import sizes
from empire.api import render
from empire.api.context import Ctx, obj, string
from empire.api.ranges import Ranges
from empire.errors import Invalid, NotFound, NotSupported
from empire.model import RunRequest

router = APIRouter()
DYNOS = Ranges(fields=("name", "id"), default="name")


@router.get("/apps/{app}/dynos")  # emp ps, heroku ps
def dynos(app: str, c: Ctx) -> JSONResponse:
    page = DYNOS.parse(c.range)
    current = c.empire.app(app)
    tasks = render.window(c.empire.tasks(current.id), page, lambda t: t.name)
    return render.page(tasks, page, DYNOS, lambda t: render.dyno_json(current, t), lambda t: t.name)


@router.get("/apps/{app}/dynos/{dyno}")
def dyno(app: str, dyno: str, c: Ctx) -> dict[str, Any]:
    current = c.empire.app(app)
    for task in c.empire.tasks(current.id):
        if dyno in (task.name, task.id):
            return render.dyno_json(current, task)
    raise NotFound(f"no dyno {dyno!r} in {current.name}: see `emp ps`", resource="dyno")


@router.post("/apps/{app}/dynos", status_code=201)  # emp run, heroku run:detached
def run(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    data = obj(body)
    command = string(data, "command")
    assert command is not None
    if data.get("attach"):
        raise NotSupported(
            "attached runs are not supported by this scheduler yet: run detached with `emp run -d`"
        )
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise Invalid("field 'env' must be an object of strings")
    size = string(data, "size", required=False)
    request = RunRequest(command, env=env, size=sizes.parse(size) if size else None)
    current = c.empire.app(app)
    task = c.empire.run(current.id, request, by=c.user, message=c.message)
    return render.dyno_json(current, task)


@router.delete("/apps/{app}/dynos", status_code=202)  # emp restart, heroku ps:restart
def restart_all(app: str, c: Ctx) -> dict[str, Any]:
    c.empire.restart(app, by=c.user, message=c.message)
    return {}


@router.delete("/apps/{app}/formations/{process}", status_code=202)  # heroku ps:restart -p
def restart_process(app: str, process: str, c: Ctx) -> dict[str, Any]:
    c.empire.restart(app, process, by=c.user, message=c.message)
    return {}


@router.delete("/apps/{app}/dynos/{dyno}", status_code=202)  # emp restart X, heroku ps:stop
def restart_dyno(app: str, dyno: str, c: Ctx) -> dict[str, Any]:
    if dyno in {p.name for p in c.empire.formation(app)}:
        c.empire.restart(app, dyno, by=c.user, message=c.message)
    else:
        c.empire.stop(app, dyno, by=c.user, message=c.message)
    return {}
