"""Per-app roles over HTTP. The route-table walk: every route of the real application is in
ROUTES with the role it needs (a route missing from the table fails the walk), and for each
route a token with the role just below is refused, precisely, and one with the role is
accepted; once with roles granted to users, once with roles that come through teams.

Levels: `open` (no token), `user` (any token), `viewer`/`deployer`/`admin` (a role on the app),
`member` (of the team in the path), `global` (a global admin). Below a viewer is a user with no
role at all: the app answers as an unknown app does. Below a member is a user outside the
team: the team answers as an unknown team does."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect

from api.api_support import APP, HEROKU, dashboard, error
from support.stack import Stack

BodyFn = Callable[["Case"], Any]


@dataclass(frozen=True)
class Rule:
    level: str
    body: BodyFn | None = None
    accepted: int | None = None  # the status when accepted; None: any 2xx


@dataclass(frozen=True)
class Case:
    """What one route is tried on: its own app (with a domain and v1 running) and team."""

    app: str
    team: str


def _image(c: Case) -> dict[str, Any]:
    return {"image": f"acme/{c.app}:v2"}


ROUTES: dict[tuple[str, str], Rule] = {
    # open
    ("GET", "/health"): Rule("open"),
    ("GET", "/openapi.json"): Rule("open"),
    ("GET", "/docs"): Rule("open"),
    ("GET", "/docs/oauth2-redirect"): Rule("open"),
    ("POST", "/oauth/authorizations"): Rule("open"),
    ("GET", "/log-streams/{secret}"): Rule("open"),
    ("POST", "/git-hooks/{secret}"): Rule("open", accepted=404),
    # any user
    ("GET", "/apps"): Rule("user"),
    ("GET", "/users/{user}/apps"): Rule("user"),
    ("POST", "/apps"): Rule("user", lambda c: {"name": f"n{c.app}"}),
    ("POST", "/organizations/apps"): Rule("user", lambda c: {"name": f"n{c.app}"}),
    ("GET", "/account"): Rule("user"),
    ("GET", "/account/rate-limits"): Rule("user"),
    ("GET", "/oauth/authorizations"): Rule("user"),
    ("DELETE", "/oauth/authorizations/{token_id}"): Rule("user", accepted=404),
    ("GET", "/teams"): Rule("user"),
    ("GET", "/addons"): Rule("user"),
    ("GET", "/addon-attachments"): Rule("user"),
    ("GET", "/apps/{app}/pipeline-couplings"): Rule("user", accepted=404),
    ("GET", "/apps/{app}/ssl-endpoints"): Rule("user", accepted=404),
    ("POST", "/apps/{app}/ssl-endpoints"): Rule("user", accepted=404),
    ("GET", "/apps/{app}/ssl-endpoints/{cert}"): Rule("user", accepted=404),
    ("PATCH", "/apps/{app}/ssl-endpoints/{cert}"): Rule("user", accepted=404),
    ("DELETE", "/apps/{app}/ssl-endpoints/{cert}"): Rule("user", accepted=404),
    ("POST", "/{app}.git/git-upload-pack"): Rule("user", accepted=403),
    # viewer
    ("GET", "/apps/{app}/builds"): Rule("viewer"),
    ("GET", "/apps/{app}/builds/{build}"): Rule("viewer", accepted=404),
    ("GET", "/apps/{app}/builds/{build}/output"): Rule("viewer", accepted=404),
    ("GET", "/apps/{app}"): Rule("viewer"),
    ("GET", "/apps/{app}/addons"): Rule("viewer"),
    ("GET", "/apps/{app}/addon-attachments"): Rule("viewer"),
    ("GET", "/apps/{app}/sni-endpoints"): Rule("viewer"),
    ("GET", "/apps/{app}/releases"): Rule("viewer"),
    ("GET", "/apps/{app}/releases/{version}"): Rule("viewer"),
    ("GET", "/apps/{app}/formation"): Rule("viewer"),
    ("GET", "/apps/{app}/formation/{process}"): Rule("viewer"),
    ("GET", "/apps/{app}/dynos"): Rule("viewer"),
    ("GET", "/apps/{app}/dynos/{dyno}"): Rule("viewer"),
    ("GET", "/apps/{app}/domains"): Rule("viewer"),
    ("GET", "/apps/{app}/domains/{hostname}"): Rule("viewer"),
    ("POST", "/apps/{app}/log-sessions"): Rule("viewer", lambda c: {}),
    ("GET", "/apps/{app}/audit"): Rule("viewer"),
    ("GET", "/apps/{app}/metrics"): Rule("viewer"),
    ("GET", "/apps/{app}/collaborators"): Rule("viewer"),
    # deployer
    ("POST", "/apps/{app}/builds"): Rule("deployer", accepted=400),  # an empty source
    ("GET", "/{app}.git/info/refs"): Rule("deployer", accepted=403),  # no ?service=
    ("POST", "/{app}.git/git-receive-pack"): Rule("deployer", accepted=400),  # not git's body
    ("GET", "/apps/{app}/config-vars"): Rule("deployer"),
    ("GET", "/apps/{app}/config-vars/{version}"): Rule("deployer"),
    ("GET", "/apps/{app}/releases/{version}/config-vars"): Rule("deployer"),
    ("GET", "/apps/{app}/releases/{version}/output"): Rule("viewer"),
    ("PATCH", "/apps/{app}/config-vars"): Rule("deployer", lambda c: {"A": "1"}),
    ("POST", "/apps/{app}/releases"): Rule("deployer", lambda c: {"release": "1"}, 201),
    ("POST", "/deploys"): Rule("deployer", _image),
    ("POST", "/apps/{app}/deploys"): Rule("deployer", _image),
    ("PATCH", "/apps/{app}"): Rule("deployer", lambda c: {"maintenance": True}),
    (
        "PATCH",
        "/apps/{app}/formation",
    ): Rule("deployer", lambda c: {"updates": [{"type": "web", "quantity": 2}]}),
    ("PATCH", "/apps/{app}/formation/{process}"): Rule("deployer", lambda c: {"quantity": 2}),
    ("POST", "/apps/{app}/dynos"): Rule("deployer", lambda c: {"command": "ls"}),
    ("DELETE", "/apps/{app}/dynos"): Rule("deployer"),
    ("DELETE", "/apps/{app}/dynos/{dyno}"): Rule("deployer"),
    ("DELETE", "/apps/{app}/formations/{process}"): Rule("deployer"),
    ("GET", "/apps/{app}/log-drains"): Rule("deployer"),
    ("GET", "/apps/{app}/log-drains/{key:path}"): Rule("deployer", accepted=404),
    (
        "POST",
        "/apps/{app}/log-drains",
    ): Rule("deployer", lambda c: {"url": f"syslog+tls://logs.{c.app}.test:6514"}, 201),
    ("DELETE", "/apps/{app}/log-drains/{key:path}"): Rule("deployer", accepted=404),
    ("WS", "/apps/{app}/attach"): Rule("deployer"),
    # admin
    ("DELETE", "/apps/{app}"): Rule("admin"),
    ("POST", "/apps/{app}/certs"): Rule("admin", lambda c: {"cert": "arn:aws:acm:x:1:cert/a"}),
    ("POST", "/apps/{app}/domains"): Rule("admin", lambda c: {"hostname": f"new.{c.app}.test"}),
    ("DELETE", "/apps/{app}/domains/{hostname}"): Rule("admin"),
    (
        "POST",
        "/apps/{app}/collaborators",
    ): Rule("admin", lambda c: {"user": "nobody", "role": "viewer"}),
    ("PATCH", "/apps/{app}/collaborators/{subject}"): Rule("admin", lambda c: {"role": "admin"}),
    ("DELETE", "/apps/{app}/collaborators/{subject}"): Rule("admin"),
    # teams
    ("GET", "/teams/{team}"): Rule("member"),
    ("GET", "/teams/{team}/members"): Rule("member"),
    ("POST", "/teams"): Rule("global", lambda c: {"name": f"n{c.team}"}),
    ("GET", "/metrics"): Rule("global"),
    ("DELETE", "/teams/{team}"): Rule("global"),
    ("PUT", "/teams/{team}/members"): Rule("global", lambda c: {"user": "nobody"}),
    ("DELETE", "/teams/{team}/members/{user}"): Rule("global"),
}

ROLE_BELOW = {"deployer": "viewer", "admin": "deployer"}
USERS = ("nobody", "viewer", "deployer", "admin", "member", "tviewer", "tdeployer", "tadmin", "sam")


def route_table(stack: Stack) -> Iterator[tuple[str, str]]:
    """Every (method, path template) of the API; WebSockets as method WS. The dashboard's
    routes call the same facade as the signed-in user; test_dashboard.py checks their roles."""
    for method, template in _walk(stack.api.routes, ""):
        if not dashboard(method, template):
            yield method, template


def _walk(table: Sequence[BaseRoute], prefix: str) -> Iterator[tuple[str, str]]:
    for route in table:
        if isinstance(route, WebSocketRoute):
            yield "WS", prefix + route.path
        elif isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            continue  # the dashboard's and the docs' files
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path
        else:  # FastAPI >= 0.16x keeps included routers as nodes of the table
            included = getattr(route, "original_router", None)
            assert included is not None, f"unexpected route {route!r}"
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + getattr(context, "prefix", ""))


class People:
    """Users with a client each, and the teams roles come through in the team variant."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.clients: dict[str, TestClient] = {"alice": self._client(stack.token)}
        for name in USERS:
            _, token = stack.empire.create_user(name)
            self.clients[name] = self._client(token)
        for role in ("viewer", "deployer", "admin"):
            stack.empire.create_team(f"{role}s", by=stack.user)
            stack.empire.add_member(f"{role}s", f"t{role}", by=stack.user)

    def _client(self, token: str) -> TestClient:
        client = self.stack.client(token)
        client.headers["Accept"] = HEROKU
        return client

    def prepare(self, n: int, teams: bool) -> Case:
        """A fresh app deployed by alice with a domain, its roles granted; a fresh team."""
        e, alice = self.stack.empire, self.stack.user
        case = Case(app=f"r{'t' if teams else 'd'}{n:02d}", team=f"t{'t' if teams else 'd'}{n:02d}")
        e.deploy(f"acme/{case.app}:v1", by=alice)
        e.add_domain(case.app, f"www.{case.app}.test", by=alice)
        for role in ("viewer", "deployer", "admin"):
            e.grant(case.app, f"team:{role}s" if teams else role, role, by=alice)
        e.grant(case.app, "sam", "viewer", by=alice)
        e.create_team(case.team, by=alice)
        e.add_member(case.team, "member", by=alice)
        return case

    def changes(self) -> tuple[int, ...]:
        """What a refused request must leave alone."""
        s = self.stack
        runs = sum(len(v) for v in s.scheduler.runs.values())
        return len(s.events.events), len(s.scheduler.stopped), len(s.scheduler.restarts), runs


def concrete(template: str, case: Case) -> str:
    values = {
        "app": case.app,
        "team": case.team,
        "version": "1",
        "process": "web",
        "dyno": "v1.web.1",
        "hostname": f"www.{case.app}.test",
        "subject": "sam",
        "user": "member" if template.startswith("/teams") else "~",
        "token_id": "no-such-token",
        "cert": "x",
        "secret": "x",
        "build": "x",
        "key": "d.no-such-drain",
    }
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: values[m.group(1)], template)


def holder(level: str, teams: bool) -> str:
    if level in ("open", "user"):
        return "nobody"
    if level == "member":
        return "member"
    if level == "global":
        return "alice"
    return f"t{level}" if teams else level


def call(client: TestClient, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    """One request; a WebSocket attach is tried as `emp run ls` and answers with its status."""
    if method != "WS":
        response = client.request(method, path, json=body)
        if 200 <= response.status_code < 300:
            return response.status_code, {}
        error(response, response.status_code, response.json()["id"])
        return response.status_code, response.json()
    with client.websocket_connect(path) as ws:
        ws.send_text(json.dumps({"command": "ls"}))
        answer = json.loads(ws.receive_text())
        if "dyno" in answer:
            return 101, {}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        return closed.value.code - 4000, answer["error"]  # closed with 4000 + the status


def refusal(level: str, who: str, case: Case) -> tuple[int, str, Callable[[str], bool]]:
    """The status, error id and a check of the message a user below `level` gets."""
    if level == "viewer":
        unknown = f"Couldn't find that app: no app named {case.app}"
        return 404, "not_found", lambda m: m == unknown
    if level in ROLE_BELOW:
        below = ROLE_BELOW[level]
        prefix = f"{who} is a {below} of {case.app}: "
        tail = f" needs the {level} role (an admin of {case.app} can grant it: "
        return 403, "forbidden", lambda m: m.startswith(prefix) and tail in m
    if level == "member":
        unknown = f"Couldn't find that team: no team named {case.team}"
        return 404, "not_found", lambda m: m == unknown
    assert level == "global"
    return 403, "forbidden", lambda m: m.startswith(f"{who} is not a global admin: ")


def below(level: str, teams: bool) -> str:
    if level in ("viewer", "member"):
        return "nobody"
    if level == "global":
        return "member"  # a team member, an app admin's peer: not a global admin
    role = ROLE_BELOW[level]
    return f"t{role}" if teams else role


@pytest.mark.parametrize("teams", [False, True], ids=["granted-to-users", "through-teams"])
def test_every_route_refuses_the_role_below_and_accepts_the_role(stack: Stack, teams: bool) -> None:
    table = set(route_table(stack))
    missing = sorted(table - ROUTES.keys())
    assert not missing, f"routes without a rule: add them to ROUTES with their role: {missing}"
    assert not sorted(ROUTES.keys() - table), "ROUTES names routes the application lacks"

    people = People(stack)
    checked = {"refused": 0, "accepted": 0}
    for n, ((method, template), rule) in enumerate(sorted(ROUTES.items())):
        if rule.level == "open":
            continue
        case = people.prepare(n, teams)
        path = concrete(template, case)
        body = rule.body(case) if rule.body else None
        where = (method, path, rule.level)
        if rule.level != "user":
            who = below(rule.level, teams)
            status, ident, message_ok = refusal(rule.level, who, case)
            before = people.changes()
            got, answer = call(people.clients[who], method, path, body)
            assert got == status, (where, who, answer)
            assert answer["id"] == ident, (where, answer)
            assert message_ok(answer["message"]), (where, who, answer["message"])
            assert people.changes() == before, (where, "a refused request changed something")
            checked["refused"] += 1
        who = holder(rule.level, teams)
        got, answer = call(people.clients[who], method, path, body)
        if rule.accepted is not None:
            assert got == rule.accepted, (where, who, answer)
        else:
            assert 100 <= got < 300, (where, who, answer)
        checked["accepted"] += 1
    assert checked["refused"] >= 40 and checked["accepted"] >= 55


# -- what each role sees ----------------------------------------------------------------------


@pytest.fixture
def bob(stack: Stack) -> TestClient:
    """A user with no role anywhere yet."""
    _, token = stack.empire.create_user("bob", email="bob@example.com")
    client = stack.client(token)
    client.headers["Accept"] = HEROKU
    return client


def test_config_vars_are_shown_only_to_deployers_and_above(
    client: TestClient, bob: TestClient, deployed: str
) -> None:
    assert client.patch(f"/apps/{APP}/config-vars", json={"SECRET": "s3"}).status_code == 200
    assert (
        client.post(
            f"/apps/{APP}/collaborators", json={"user": "bob", "role": "viewer"}
        ).status_code
        == 201
    )
    message = (
        f"bob is a viewer of {APP}: reading config vars needs the deployer role "
        f"(an admin of {APP} can grant it: emp access-add bob deployer -a {APP})"
    )
    for path in ("config-vars", "config-vars/2", "releases/2/config-vars"):
        body = error(bob.get(f"/apps/{APP}/{path}"), 403, "forbidden", message)
        assert "s3" not in json.dumps(body)
    release = bob.get(f"/apps/{APP}/releases/2")  # a viewer reads the release, not its config
    assert release.status_code == 200 and "s3" not in release.text
    assert (
        client.patch(f"/apps/{APP}/collaborators/bob", json={"role": "deployer"}).status_code == 200
    )
    assert bob.get(f"/apps/{APP}/config-vars").json() == {"SECRET": "s3"}
    assert bob.get(f"/apps/{APP}/releases/2/config-vars").json() == {"SECRET": "s3"}


def test_the_app_list_shows_only_the_apps_one_can_view(
    stack: Stack, client: TestClient, bob: TestClient
) -> None:
    for name in ("app-a", "app-b", "app-c", "app-d", "secret"):
        assert client.post("/apps", json={"name": name}).status_code == 201
    assert bob.get("/apps").json() == []
    client.post("/apps/app-a/collaborators", json={"user": "bob", "role": "viewer"})
    client.post("/teams", json={"name": "ops"})
    client.put("/teams/ops/members", json={"email": "bob@example.com"})
    for name in ("app-b", "app-c"):
        client.post(f"/apps/{name}/collaborators", json={"team": "ops", "role": "viewer"})
    assert client.post("/apps", json={"name": "bobs"}).status_code == 201
    assert bob.post("/apps", json={"name": "bobs-own"}).status_code == 201  # his: he is admin

    mine = ["app-a", "app-b", "app-c", "bobs-own"]
    assert [a["name"] for a in bob.get("/apps").json()] == mine
    assert [a["name"] for a in bob.get("/users/~/apps").json()] == mine
    first = bob.get("/apps", headers={"Range": "name ..; max=3"})
    assert first.status_code == 206 and [a["name"] for a in first.json()] == mine[:3]
    rest = bob.get("/apps", headers={"Range": first.headers["Next-Range"]})
    assert rest.status_code == 200 and [a["name"] for a in rest.json()] == mine[3:]
    everything = [a["name"] for a in client.get("/apps").json()]
    assert everything == ["app-a", "app-b", "app-c", "app-d", "bobs", "bobs-own", "secret"]

    client.delete("/teams/ops/members/bob")  # at once: no role is cached
    assert [a["name"] for a in bob.get("/apps").json()] == ["app-a", "bobs-own"]
    error(bob.get("/apps/app-b"), 404, "not_found", "Couldn't find that app: no app named app-b")
    client.delete("/apps/app-a/collaborators/bob")
    error(bob.get("/apps/app-a/releases"), 404, "not_found")


def test_renaming_or_a_certificate_through_patch_needs_admin(
    client: TestClient, bob: TestClient, deployed: str
) -> None:
    client.post(f"/apps/{APP}/collaborators", json={"user": "bob"})  # deployer by default
    assert bob.patch(f"/apps/{APP}", json={"maintenance": True}).json()["maintenance"] is True
    for change, action in (
        ({"name": "acme-two"}, "renaming the app"),
        ({"cert": "arn:aws:acm:x:1:cert/a"}, "attaching a certificate"),
    ):
        body = error(bob.patch(f"/apps/{APP}", json=change), 403, "forbidden")
        assert f"{action} needs the admin role" in body["message"]
    client.patch(f"/apps/{APP}/collaborators/bob", json={"role": "admin"})
    assert bob.patch(f"/apps/{APP}", json={"name": "acme-two"}).json()["name"] == "acme-two"


def test_whoever_creates_an_app_is_its_admin(stack: Stack, bob: TestClient) -> None:
    assert bob.post("/apps", json={"name": "bobs-app"}).status_code == 201
    deploy = bob.post("/deploys", json={"image": "acme/bobs-other:v1"})
    assert deploy.status_code == 200 and "succeeded" in deploy.text
    for name in ("bobs-app", "bobs-other"):
        [collaborator] = bob.get(f"/apps/{name}/collaborators").json()
        assert (collaborator["user"]["name"], collaborator["role"]) == ("bob", "admin")
    assert bob.delete("/apps/bobs-app").status_code == 200
    assert stack.events.events[-1].text == "bob destroyed bobs-app"


# -- the collaborators contract ---------------------------------------------------------------


def test_collaborators_are_heroku_collaborators_with_a_role_and_a_team(
    stack: Stack, client: TestClient, bob: TestClient, deployed: str
) -> None:
    bob_id = stack.empire.authenticate(bob.headers["Authorization"].split()[1]).id
    added = client.post(f"/apps/{APP}/collaborators", json={"user": "bob@example.com"})
    assert added.status_code == 201
    app = stack.empire.app(APP, by=stack.user)
    assert added.json() == {
        "id": added.json()["id"],
        "app": {"id": app.id, "name": APP},
        "user": {"id": bob_id, "email": "bob@example.com", "name": "bob"},
        "team": None,
        "role": "deployer",  # as a Heroku collaborator can deploy
        "permissions": [
            {"name": "view", "description": added.json()["permissions"][0]["description"]},
            {"name": "deploy", "description": added.json()["permissions"][1]["description"]},
            {"name": "operate", "description": added.json()["permissions"][2]["description"]},
        ],
        "created_at": "2026-11-26T10:00:00Z",
        "updated_at": "2026-11-26T10:00:00Z",
    }
    again = client.post(f"/apps/{APP}/collaborators", json={"user": "bob", "role": "viewer"})
    assert (again.json()["id"], again.json()["role"]) == (added.json()["id"], "viewer")
    assert [p["name"] for p in again.json()["permissions"]] == ["view"]
    client.post("/teams", json={"name": "ops"})
    team = client.post(f"/apps/{APP}/collaborators", json={"team": "ops", "role": "admin"})
    ops = client.get("/teams/ops").json()
    assert team.status_code == 201
    assert team.json()["team"] == {"id": ops["id"], "name": "ops"}
    # heroku clients read user.email on every collaborator: a team shows as team:NAME there
    assert team.json()["user"] == {"id": ops["id"], "email": "team:ops", "name": "team:ops"}
    assert [p["name"] for p in team.json()["permissions"]] == [
        "view",
        "deploy",
        "operate",
        "manage",
    ]

    listed = client.get(f"/apps/{APP}/collaborators").json()
    assert [(c["team"] or c["user"])["name"] for c in listed] == ["alice", "bob", "ops"]
    first = client.get(f"/apps/{APP}/collaborators", headers={"Range": "name ..; max=2"})
    assert first.status_code == 206 and len(first.json()) == 2
    rest = client.get(f"/apps/{APP}/collaborators", headers={"Range": first.headers["Next-Range"]})
    assert [c["team"]["name"] for c in rest.json()] == ["ops"]

    changed = client.patch(f"/apps/{APP}/collaborators/team:ops", json={"role": "viewer"})
    assert changed.json()["role"] == "viewer"
    assert (
        client.patch(f"/apps/{APP}/collaborators/{bob_id}", json={"role": "admin"}).json()["role"]
        == "admin"
    )
    assert client.delete(f"/apps/{APP}/collaborators/team:ops").json()["team"]["name"] == "ops"
    assert client.delete(f"/apps/{APP}/collaborators/bob@example.com").json()["role"] == "admin"
    assert [c["user"]["name"] for c in client.get(f"/apps/{APP}/collaborators").json()] == ["alice"]
    assert [str(e) for e in stack.events.events if e.kind == "access"] == [
        "alice granted bob deployer on acme-inc",
        "alice granted bob viewer on acme-inc (was deployer)",
        "alice granted team ops admin on acme-inc",
        "alice granted team ops viewer on acme-inc (was admin)",
        "alice granted bob admin on acme-inc (was viewer)",
        "alice revoked viewer on acme-inc from team ops",
        "alice revoked admin on acme-inc from bob",
    ]


def test_collaborator_errors(client: TestClient, bob: TestClient, deployed: str) -> None:
    path = f"/apps/{APP}/collaborators"
    for body in ({}, {"user": "bob", "team": "ops"}, {"role": "viewer"}):
        error(client.post(path, json=body), 400, "bad_request")
    error(
        client.post(path, json={"user": 7}),
        400,
        "bad_request",
        "field 'user' must be a string, got int",
    )
    bad_role = error(client.post(path, json={"user": "bob", "role": "owner"}), 400, "bad_request")
    assert bad_role["message"].startswith("invalid role 'owner': use viewer")
    error(
        client.patch(f"{path}/bob", json={}),
        400,
        "bad_request",
        "missing field 'role' in the request body",
    )
    error(
        client.post(path, json={"user": "nobody"}),
        404,
        "not_found",
        "Couldn't find that user: no user named nobody (see `empire users list` on the server)",
    )
    error(
        client.post(path, json={"team": "nope"}),
        404,
        "not_found",
        "Couldn't find that team: no team named nope",
    )
    missing = (
        f"Couldn't find that collaborator: bob has no access to {APP} (see emp access -a {APP})"
    )
    error(client.patch(f"{path}/bob", json={"role": "viewer"}), 404, "not_found", missing)
    error(client.delete(f"{path}/bob"), 404, "not_found", missing)

    client.post(path, json={"user": "bob", "role": "admin"})
    client.delete(f"{path}/alice")
    last = error(bob.delete(f"{path}/bob"), 409, "conflict")
    assert last["message"].startswith(f"bob is the last admin of {APP}: make someone else an admin")
    error(bob.patch(f"{path}/bob", json={"role": "viewer"}), 409, "conflict")
    assert client.delete(f"{path}/bob").status_code == 200  # a global admin may


# -- the teams contract -----------------------------------------------------------------------


def test_teams_over_http(stack: Stack, client: TestClient, bob: TestClient) -> None:
    created = client.post("/teams", json={"name": "ops"})
    assert created.status_code == 201
    ops = created.json()
    assert ops == {
        "id": ops["id"],
        "name": "ops",
        "created_at": "2026-11-26T10:00:00Z",
        "updated_at": "2026-11-26T10:00:00Z",
    }
    client.post("/teams", json={"name": "web"})
    member = client.put("/teams/ops/members", json={"email": "bob@example.com"})
    assert member.status_code == 200
    bob_json = {"id": member.json()["id"], "email": "bob@example.com", "name": "bob"}
    assert member.json() == {
        **bob_json,
        "role": "member",
        "user": bob_json,
        "team": {"id": ops["id"], "name": "ops"},
    }
    assert client.put("/teams/ops/members", json={"user": "bob"}).status_code == 200  # again
    assert [t["name"] for t in client.get("/teams").json()] == ["ops", "web"]
    assert [t["name"] for t in bob.get("/teams").json()] == ["ops"]
    assert bob.get(f"/teams/{ops['id']}").json() == ops
    assert [m["name"] for m in bob.get("/teams/ops/members").json()] == ["bob"]
    error(bob.get("/teams/web"), 404, "not_found", "Couldn't find that team: no team named web")
    error(bob.get("/teams/web/members"), 404, "not_found")
    error(client.post("/teams", json={"name": "ops"}), 409, "conflict", "team ops already exists")
    error(client.post("/teams", json={"name": "Not A Team"}), 400, "bad_request")
    error(client.put("/teams/ops/members", json={}), 400, "bad_request")
    error(
        client.delete("/teams/ops/members/alice"),
        404,
        "not_found",
        "Couldn't find that member: alice is not a member of team ops",
    )
    assert client.delete("/teams/ops/members/bob").json()["name"] == "bob"
    assert bob.get("/teams").json() == []
    assert client.delete("/teams/ops").json() == ops
    error(client.get("/teams/ops"), 404, "not_found")
    assert [str(e) for e in stack.events.events if e.kind == "team"] == [
        "alice created team ops",
        "alice created team web",
        "alice added bob to team ops",
        "alice removed bob from team ops",
        "alice destroyed team ops",
    ]
