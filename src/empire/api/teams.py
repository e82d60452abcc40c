"""/teams: users who share grants. Global admins create, change and destroy them; a member
may read their own team."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from empire.api import bodies, render
from empire.api.context import Ctx, obj, string
from empire.api.ranges import Ranges
from empire.errors import Invalid
from empire.model import Team, User

router = APIRouter()
TEAMS = Ranges(fields=("name", "id"), default="name")
MEMBERS = Ranges(fields=("name", "id"), default="name")


def team_json(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "created_at": render.when(team.created_at),
        "updated_at": render.when(team.created_at),
    }


def member_json(team: Team, user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": "member",
        "user": {"id": user.id, "email": user.email, "name": user.name},
        "team": {"id": team.id, "name": team.name},
    }


@router.get("/teams")  # emp teams
async def teams(c: Ctx) -> JSONResponse:
    page = TEAMS.parse(c.range)
    key = (lambda t: t.name) if page.field == "name" else (lambda t: t.id)
    found = render.window(await c.call(c.empire.teams, by=c.user), page, key)
    return render.page(found, page, TEAMS, team_json, key)


@router.post("/teams", status_code=201, openapi_extra=bodies.CREATE_TEAM)  # emp teams-create
async def create_team(c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    name = string(obj(body), "name")
    assert name is not None
    return team_json(await c.call(c.empire.create_team, name, by=c.user, message=c.message))


@router.get("/teams/{team}")  # emp teams-info
async def team(team: str, c: Ctx) -> dict[str, Any]:
    return team_json(await c.call(c.empire.team, team, by=c.user))


@router.delete("/teams/{team}")  # emp teams-destroy
async def destroy_team(team: str, c: Ctx) -> dict[str, Any]:
    return team_json(await c.call(c.empire.destroy_team, team, by=c.user, message=c.message))


@router.get("/teams/{team}/members")  # emp teams-members
async def members(team: str, c: Ctx) -> JSONResponse:
    page = MEMBERS.parse(c.range)
    key = (lambda u: u.name) if page.field == "name" else (lambda u: u.id)
    found, users = await c.call(c.empire.team_members, team, by=c.user)
    return render.page(
        render.window(users, page, key), page, MEMBERS, lambda u: member_json(found, u), key
    )


@router.put("/teams/{team}/members", openapi_extra=bodies.ADD_MEMBER)  # emp teams-add-member
async def add_member(team: str, c: Ctx, body: Any = Body(default=None)) -> dict[str, Any]:
    data = obj(body)
    user = string(data, "user", required=False) or string(data, "email", required=False)
    if not user:
        raise Invalid('missing field "user" (a name or e-mail address): {"user": "bob"}')
    found, member = await c.call(c.empire.add_member, team, user, by=c.user, message=c.message)
    return member_json(found, member)


@router.delete("/teams/{team}/members/{user}")  # emp teams-remove-member
async def remove_member(team: str, user: str, c: Ctx) -> dict[str, Any]:
    found, member = await c.call(c.empire.remove_member, team, user, by=c.user, message=c.message)
    return member_json(found, member)
