"""/apps/{app}/collaborators: who holds which role on an app (Heroku's collaborators, plus
Empire's `role` and `team`). A subject in a path is a user name, e-mail address or id, or
`team:NAME`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.api.ranges import Ranges
from empire.errors import Invalid
from empire.model import Grant, Role

router = APIRouter()
COLLABORATORS = Ranges(fields=("name", "id"), default="name")
DEFAULT_ROLE = Role.DEPLOYER  # a Heroku collaborator can deploy
_PERMISSIONS = {  # Heroku's permission names, cumulative like the roles
    Role.VIEWER: (("view", "View the app: info, releases, dynos, logs, domains, audit"),),
    Role.DEPLOYER: (
        ("deploy", "Deploy, roll back, change and read config vars"),
        ("operate", "Scale, restart, run one-off dynos, maintenance mode"),
    ),
    Role.ADMIN: (("manage", "Destroy and rename the app, domains, certificates, access"),),
}


def collaborator_json(grant: Grant) -> dict[str, Any]:
    user, team = grant.user, grant.team
    return {
        "id": grant.id,
        "app": {"id": grant.app_id, "name": grant.app_name},
        # Heroku clients read `user.email` on every collaborator: a team's grant names the team
        # there the way emp and the API address it (`team:NAME`).
        "user": (
            {"id": user.id, "email": user.email, "name": user.name}
            if user
            else {"id": team.id, "email": f"team:{team.name}", "name": f"team:{team.name}"}
            if team
            else None
        ),
        "team": {"id": team.id, "name": team.name} if team else None,
        "role": grant.role.value,
        "permissions": [
            {"name": name, "description": description}
            for role in Role
            if role <= grant.role
            for name, description in _PERMISSIONS[role]
        ],
        "created_at": render.when(grant.created_at),
        "updated_at": render.when(grant.created_at),
    }


@router.get("/apps/{app}/collaborators")  # emp access, heroku access
async def collaborators(app: str, c: Ctx) -> JSONResponse:
    page = COLLABORATORS.parse(c.range)
    key = (lambda g: g.subject) if page.field == "name" else (lambda g: g.id)
    grants = render.window(await c.call(c.empire.access, app, by=c.user), page, key)
    return render.page(grants, page, COLLABORATORS, collaborator_json, key)


@router.post(  # emp access-add, heroku access:add
    "/apps/{app}/collaborators", status_code=201, openapi_extra=bodies.ADD_COLLABORATOR
)
async def add_collaborator(app: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    data = obj(body)
    user = string(data, "user", required=False)
    team = string(data, "team", required=False)
    if (user is None) == (team is None):
        raise Invalid(
            'give exactly one of "user" (a name or e-mail address) and "team": '
            '{"user": "bob", "role": "deployer"}'
        )
    subject = user if user is not None else f"team:{team}"
    role = string(data, "role", required=False) or DEFAULT_ROLE.value
    grant = await c.call(c.empire.grant, app, subject, role, by=c.user, message=c.message)
    return collaborator_json(grant)


@router.patch(  # emp access-add (a new role)
    "/apps/{app}/collaborators/{subject}", openapi_extra=bodies.UPDATE_COLLABORATOR
)
async def update_collaborator(
    app: str, subject: str, c: Ctx, body: Any = Body(default=None)
) -> dict[str, Any]:
    role = string(obj(body), "role")
    assert role is not None
    grant = await c.call(
        c.empire.grant, app, subject, role, by=c.user, message=c.message, create=False
    )
    return collaborator_json(grant)


@router.delete("/apps/{app}/collaborators/{subject}")  # emp access-remove, heroku access:remove
async def remove_collaborator(app: str, subject: str, c: Ctx) -> dict[str, Any]:
    revoked = await c.call(c.empire.revoke, app, subject, by=c.user, message=c.message)
    return collaborator_json(revoked)
