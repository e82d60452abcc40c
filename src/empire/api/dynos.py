"""/apps/{app}/dynos: ps, one-off runs, restart and stop. Tasks are dynos on the wire."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from empire import sizes
from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.api.ranges import Ranges
from empire.errors import Invalid, NotFound, NotSupported
from empire.model import RunRequest, Task

router = APIRouter()
DYNOS = Ranges(fields=("name", "id"), default="name")
_RELEASE_PREFIX = re.compile(r"^v\d+\.")


@router.get("/apps/{app}/dynos")  # emp ps, heroku ps
def dynos(app: str, c: Ctx) -> JSONResponse:
    page = DYNOS.parse(c.range)
    current = c.empire.app(app, by=c.user)
    tasks = render.window(c.empire.tasks(current.id, by=c.user), page, lambda t: t.name)
    return render.page(tasks, page, DYNOS, lambda t: render.dyno_json(current, t), lambda t: t.name)


@router.get("/apps/{app}/dynos/{dyno}")  # heroku run (polls its dyno)
def dyno(app: str, dyno: str, c: Ctx) -> dict[str, Any]:
    current = c.empire.app(app, by=c.user)
    tasks = c.empire.tasks(current.id, by=c.user)
    return render.dyno_json(current, _find(tasks, dyno, current.name))


@router.post(  # emp run, heroku run:detached
    "/apps/{app}/dynos", status_code=201, openapi_extra=bodies.RUN
)
def run(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    data = obj(body)
    command = string(data, "command")
    assert command is not None
    if data.get("attach"):
        raise NotSupported(
            f"attached runs are not served on POST /apps/{app}/dynos (Heroku's rendezvous "
            f"protocol): connect a WebSocket to /apps/{app}/attach, as `emp run` does, "
            "or run detached with `emp run -d`"
        )
    env = data.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise Invalid("field 'env' must be an object of strings")
    size = string(data, "size", required=False)
    request = RunRequest(command, env=env, size=sizes.parse(size) if size else None)
    current = c.empire.app(app, by=c.user)
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


@router.delete("/apps/{app}/dynos/{dyno}", status_code=202)  # emp restart X, heroku ps:restart
def restart_dyno(app: str, dyno: str, c: Ctx) -> dict[str, Any]:
    """A process type restarts all its instances (emp restart web); a dyno is stopped, and
    replaced while its process is scaled up (emp restart v3.web.1, heroku ps:restart -d web.1)."""
    if "." not in dyno and dyno in {p.name for p in c.empire.formation(app, by=c.user)}:
        c.empire.restart(app, dyno, by=c.user, message=c.message)
        return {}
    task = _find(c.empire.tasks(app, by=c.user), dyno, app)
    c.empire.stop(app, task.name, by=c.user, message=c.message)
    return {}


def _find(tasks: list[Task], ident: str, app: str) -> Task:
    """Find a task by name, id, or Heroku's `web.1` (our names carry the release: v3.web.1)."""
    for task in tasks:
        if ident in (task.name, task.id):
            return task
    for task in tasks:
        if _RELEASE_PREFIX.sub("", task.name) == ident:
            return task
    raise NotFound(
        f"Couldn't find that dyno: no dyno {ident!r} in {app} (see `emp ps`)", resource="dyno"
    )
