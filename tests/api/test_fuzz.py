"""Fuzz the API with schemathesis against its own OpenAPI document: no 5xx, and every error a
Heroku error body, a JSON object with the string keys `id`, `message` and `url`.

The document is the one `GET /openapi.json` serves. Each operation is one pytest item; all run
against one in-process Empire (a migrated SQLite store in a tmp dir, the fake scheduler and fake
images) seeded with a deployed app, a second app, a domain, a config var and a spare token, and
re-seeded when a rename or a destroy takes the app away. Hypothesis is derandomized and runs the
operations in the document's order, so each run sends the same requests in the same order.

Checks (`CHECKS`): no 5xx but the deliberate 501 not_implemented, and every 4xx/5xx a JSON
object with string `id`, `message` and `url`. The schemathesis defaults are off on purpose: the
document declares 422 for validation errors that Empire answers with 400 (Heroku's shape), and
it declares no response bodies worth conforming to.

The document is augmented here, in the test only, where it is too thin to fuzz well:

- The request bodies are fuzzed from the schemas the document serves (`empire.api.bodies`), so
  the positive mode sends well-typed objects that reach the facade and the negative mode sends
  wrong types, missing and extra fields; the coverage phase adds the boundary values. A few
  fields are seeded (`SEEDS`) with names the seeded Empire has beside what the schema makes,
  and the size fields get the sizes that once made a 500 among their examples (`ODD_SIZES`).
- Path parameters are plain strings: each is given the names that exist in the seeded Empire as
  an `enum` alternative (`PATH_VALUES`), so `{app}` is often `acme-inc` and the handlers get
  past "no such app" to the code behind it.
- `Range` (list endpoints) and `Commit-Message` (every request) are headers the handlers read
  that the document does not declare: both are fuzzed as optional header parameters.

Streaming and long-lived routes, and why none of them can hang here:

- `WebSocket /apps/{app}/attach` is not in the document (FastAPI leaves WebSocket routes out), so
  it is not fuzzed: a handshake without a first message would wait FIRST_MESSAGE_TIMEOUT (30 s).
  Its input handling is tested in test_attach.py.
- `POST /apps/{app}/log-sessions` without Heroku fields streams the logs as text/plain, and
  `GET /log-streams/{secret}` streams them, as SSE or text, following when asked (`tail`). The
  fake scheduler's `logs` returns a finished list whatever the query (follow included), so both
  end; and a fuzzed secret never names a live session (404).
- `POST /deploys` and `POST /apps/{app}/deploys` stream NDJSON while the deploy runs; with the
  fake images and scheduler a deploy ends in milliseconds.
- Every call is also bounded by the ASGI transport's read timeout (`TIMEOUT`, which cancels the
  app between chunks) and each test by pytest-timeout (which also ends a sync generator that
  blocks in a worker thread), so a route that starts to follow forever fails instead of hanging.

Known bugs in modules this test does not own are excluded narrowly, by the input that triggers
them, in `KNOWN_BUGS`: remove an entry once its bug is fixed.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import bcrypt
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response
from starlette.types import Receive, Scope, Send

from api.api_support import APP, HEROKU, IMAGE, PROCFILE, served_document
from support.stack import Stack, make_stack

pytestmark = pytest.mark.timeout(120)

OTHER_APP = "other-app"
DOMAIN = "www.acme.com"
PASSWORD = "correct horse battery"
TIMEOUT = 10.0  # seconds, per request
MAX_EXAMPLES = 15  # per operation, fuzzing phase (the examples and coverage phases add theirs)
MAX_EXAMPLES_NO_TOKEN = 5  # the gate answers before routing: a few per operation suffice
ERROR_KEYS = ("id", "message", "url")


def often(values: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or one of `values` (names the seeded Empire has, forms a handler takes)."""
    return {"anyOf": [{"enum": values}, schema]}


# Body fields (by their path in the served body schema) and the values offered beside what
# the schema generates: names the seeded Empire has, so that a request often gets past "no such
# app, process, image or user" to the code behind it.
_UPDATE = "properties/updates/items/properties/"
_PROCESSES = ["web", "worker", "migrate"]
_NEW_NAMES = ["new-app", "acme-two"]
_CERTS = ["acme-cert", "arn:aws:iam::123456789012:server-certificate/acme"]
_IMAGES = [IMAGE, "acme/api:v2", "registry.local:5000/acme/api@sha256:" + "a" * 64]
SEEDS: dict[tuple[str, str], dict[str, list[Any]]] = {
    ("post", "/apps"): {"properties/name": _NEW_NAMES},
    ("post", "/organizations/apps"): {"properties/name": _NEW_NAMES},
    ("patch", "/apps/{app}"): {"properties/name": _NEW_NAMES, "properties/cert": _CERTS},
    ("post", "/apps/{app}/certs"): {"properties/cert": _CERTS, "properties/process": _PROCESSES},
    ("post", "/apps/{app}/releases"): {"properties/release": ["1", 1, "v1"]},
    ("patch", "/apps/{app}/config-vars"): {"propertyNames": ["KEEP", "DATABASE_URL"]},
    ("patch", "/apps/{app}/formation"): {
        _UPDATE + "type": _PROCESSES,
        _UPDATE + "process": _PROCESSES,
    },
    ("post", "/apps/{app}/dynos"): {"properties/command": ["ls -l", "./bin/migrate", "migrate"]},
    ("post", "/apps/{app}/domains"): {"properties/hostname": ["api.acme.com", "*.acme.io", DOMAIN]},
    ("post", "/deploys"): {"properties/image": _IMAGES},
    ("post", "/apps/{app}/deploys"): {"properties/image": _IMAGES},
    ("post", "/apps/{app}/log-sessions"): {"properties/dyno": _PROCESSES},
    ("post", "/apps/{app}/collaborators"): {
        "properties/user": ["bob", "bob@example.com"],
        "properties/team": ["ops"],
    },
    ("post", "/teams"): {"properties/name": ["dev", "ops"]},
    ("put", "/teams/{team}/members"): {
        "properties/user": ["bob", "alice"],
        "properties/email": ["bob@example.com"],
    },
}
# Sizes the served examples leave out, added to the examples of every size field: each once
# made a 500 (test_fuzz_regressions.py has them all).
ODD_SIZES = [
    "²:1GB",  # a digit to str.isdigit() that int() refuses
    "2:" + "9" * 400 + "TB",  # float("9" * 400) is infinity
    "99999999999999999999:1GB",
    "2:1GB:nproc=" + "9" * 5000,  # past int()'s 4300 digits
]
SIZES: dict[tuple[str, str], str] = {
    ("patch", "/apps/{app}/formation"): _UPDATE + "size",
    ("patch", "/apps/{app}/formation/{process}"): "properties/size",
    ("post", "/apps/{app}/dynos"): "properties/size",
}
# Names that exist in the seeded Empire, offered beside any string.
PATH_VALUES: dict[str, list[str]] = {
    "app": [APP, OTHER_APP],
    "user": ["alice", "bob", "~"],
    "version": ["1", "2", "v1"],
    "process": ["web", "worker", "migrate"],
    "dyno": ["web", "v2.web.1", "web.1"],
    "hostname": [DOMAIN],
    "team": ["ops"],
    "subject": ["bob", "team:ops", "alice"],
    # No token ids: revoking the fuzzer's own token would turn every later request into a 401.
}
RANGED = {
    "/apps",
    "/users/{user}/apps",
    "/apps/{app}/releases",
    "/apps/{app}/formation",
    "/apps/{app}/dynos",
    "/apps/{app}/domains",
    "/apps/{app}/audit",
    "/apps/{app}/addons",
    "/apps/{app}/addon-attachments",
    "/addons",
    "/addon-attachments",
    "/apps/{app}/collaborators",
    "/apps/{app}/sni-endpoints",
}
RANGE_EXAMPLES = [
    "name ..; max=2",
    "version ]1..; max=1, order=desc",
    "id ..; ;",
    "hostname ..; max=99999999999999999999999",
]


@dataclass(frozen=True)
class KnownBug:
    """Input that triggers a bug in a module this test does not own; excluded until fixed."""

    name: str
    operation: str  # "METHOD /path"
    matches: Callable[[Case], bool]


KNOWN_BUGS: list[KnownBug] = []


# -- the document ---------------------------------------------------------------------------------


def body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The JSON schema of an operation's request body, if it has one."""
    body = document["paths"][path][method].get("requestBody", {})
    schema: dict[str, Any] | None = (
        body.get("content", {}).get("application/json", {}).get("schema")
    )
    return schema


def operations_without_body_schema(document: dict[str, Any]) -> list[str]:
    """The operations that take a JSON body the document says nothing about."""
    found = []
    for path, item in document["paths"].items():
        for method in item:
            schema = body_schema(document, method, path)
            if schema is not None and not {"type", "properties", "$ref"} & schema.keys():
                found.append(f"{method.upper()} {path}")
    return found


def field(schema: dict[str, Any] | None, where: str) -> tuple[dict[str, Any], str] | None:
    """The schema object holding the field at `where` (keys joined by "/") and its key."""
    *parents, key = where.split("/")
    node: Any = schema
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or not isinstance(node.get(key), dict):
        return None
    return node, key


def stale_seeds(document: dict[str, Any]) -> list[str]:
    """SEEDS and SIZES entries that name no field of the served body schemas."""
    wanted = [(key, where) for key, seeds in SEEDS.items() for where in seeds]
    wanted += list(SIZES.items())
    return [
        f"{method.upper()} {path}: {where}"
        for (method, path), where in wanted
        if path not in document["paths"]
        or method not in document["paths"][path]
        or field(body_schema(document, method, path), where) is None
    ]


def augmented(document: dict[str, Any]) -> dict[str, Any]:
    """The served document with seeded body fields and path values, odd sizes among the size
    examples, and the undeclared headers."""
    document = copy.deepcopy(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            key = (method, path)
            schema = body_schema(document, method, path)
            for where, values in SEEDS.get(key, {}).items():
                if found := field(schema, where):  # a stale seed fails test_seeds_are_served
                    parent, name = found
                    parent[name] = often(values, parent[name])
            if key in SIZES and (found := field(schema, SIZES[key])):
                parent, name = found
                parent[name]["examples"] = [*parent[name].get("examples", []), *ODD_SIZES]
            for parameter in operation.get("parameters", []):
                values = PATH_VALUES.get(parameter["name"])
                if parameter["in"] == "path" and values:
                    parameter["schema"] = {"anyOf": [{"enum": values}, {"type": "string"}]}
            headers = operation.setdefault("parameters", [])
            if method == "get" and path in RANGED:
                headers.append(
                    {
                        "name": "Range",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "examples": RANGE_EXAMPLES},
                    }
                )
            headers.append(
                {
                    "name": "Commit-Message",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                }
            )
    return copy.deepcopy(document)  # no schema object shared between two places


class Target:
    """The ASGI app the schemas call: it forwards to the Empire the `empire` fixture made.
    The schemas are built at import, before any fixture, and hold one app each."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no Empire for this test"
        await self.app(scope, receive, send)


DOCUMENT = served_document()
TARGET = Target()
CONFIG = {"seed": 20261126, "phases": {"stateful": {"enabled": False}}}
schema = schemathesis.openapi.from_dict(
    augmented(DOCUMENT), config=schemathesis.Config.from_dict(CONFIG)
)
schema.app = TARGET
# Without a token the gate answers before routing: the fuzzing phase alone, briefly.
NO_TOKEN = {"examples": {"enabled": False}, "coverage": {"enabled": False}}
schema_no_token = schemathesis.openapi.from_dict(
    augmented(DOCUMENT),
    config=schemathesis.Config.from_dict({**CONFIG, "phases": {**CONFIG["phases"], **NO_TOKEN}}),
)
schema_no_token.app = TARGET
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


# -- checks ---------------------------------------------------------------------------------------


def _body(response: Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


@schemathesis.check
def no_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No 5xx, but for 501 not_implemented: the deliberate answer to a feature Empire refuses
    (an attached run on POST /dynos, a slug release), not a crash."""
    status = response.status_code
    if status < 500:
        return None
    body = _body(response)
    if status == 501 and isinstance(body, dict) and body.get("id") == "not_implemented":
        return None
    raise AssertionError(f"{case.operation.label} answered {status}: {response.text[:500]}")


@schemathesis.check
def heroku_error_shape(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is JSON: an object whose `id`, `message` and `url` are strings, with an
    id and a message."""
    if response.status_code < 400:
        return None
    label = f"{case.operation.label} answered {response.status_code}"
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"{label} as {content_type!r}"
    body = _body(response)
    assert isinstance(body, dict), f"{label} with a body that is no JSON object: {response.text!r}"
    for key in ERROR_KEYS:
        assert isinstance(body.get(key), str), f"{label} without a string {key!r}: {body!r}"
    assert body["id"] and body["message"], f"{label} with an empty id or message: {body!r}"
    return None


CHECKS = [no_server_error, heroku_error_shape]


# -- the Empire under test ------------------------------------------------------------------------


@dataclass
class Seeded:
    stack: Stack
    client: TestClient  # alice's, to put the seed back

    def reseed(self, operation: str) -> None:
        """Put back what an operation may have renamed or destroyed."""
        taken = {
            "DELETE /teams/{team}": "/teams/ops",
            "PATCH /apps/{app}": f"/apps/{APP}",
            "DELETE /apps/{app}": f"/apps/{APP}",
        }.get(operation)
        if taken is None or self.client.get(taken).status_code == 200:
            return
        if taken == "/teams/ops":
            seed_team(self.client)
            seed_grants(self.client)  # the team's grant went with it
        else:
            seed(self.client)


@pytest.fixture(scope="module")
def empire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """An Empire behind TARGET, shared by the module's operations (a fresh one for each costs
    more than the fuzzing): acme-inc deployed (v1, then v2 with a config var and a domain),
    other-app created, alice with a password and a spare token, bob, the team ops (alice);
    no rate limit."""
    stack = make_stack(tmp_path_factory.mktemp("fuzz"), env={"EMPIRE_RATE_LIMIT_PER_HOUR": "0"})
    stack.images.add(IMAGE, procfile=PROCFILE)
    with pytest.MonkeyPatch.context() as monkeypatch:
        gensalt = bcrypt.gensalt  # bcrypt's default cost makes each login a quarter of a second
        monkeypatch.setattr(bcrypt, "gensalt", lambda: gensalt(rounds=4))
        stack.empire.set_password("alice", PASSWORD)
    stack.empire.create_token("alice", "spare")
    stack.empire.create_user("bob", email="bob@example.com")
    with stack.client() as client:
        client.headers["Accept"] = HEROKU
        seed_team(client)
        seed(client)
        TARGET.app = stack.api
        try:
            yield Seeded(stack, client)
        finally:
            TARGET.app = None


def seed_team(client: TestClient) -> None:
    """The team ops, with alice (best effort, as access control is new and may change)."""
    client.post("/teams", json={"name": "ops"})
    client.put("/teams/ops/members", json={"user": "alice"})


def seed(client: TestClient) -> None:
    """Deploy acme-inc with a config var, a domain and collaborators (bob, team ops); create
    other-app."""
    response = client.post("/deploys", json={"image": IMAGE})
    assert response.status_code == 200, response.text
    assert client.patch(f"/apps/{APP}/config-vars", json={"KEEP": "1"}).status_code == 200
    added = client.post(f"/apps/{APP}/domains", json={"hostname": DOMAIN})
    assert added.status_code in (201, 409), added.text
    if client.get(f"/apps/{OTHER_APP}").status_code == 404:
        assert client.post("/apps", json={"name": OTHER_APP}).status_code == 201
    seed_grants(client)


def seed_grants(client: TestClient) -> None:
    """bob deploys acme-inc, the team ops views it (best effort, as for the team)."""
    client.post(f"/apps/{APP}/collaborators", json={"user": "bob", "role": "deployer"})
    client.post(f"/apps/{APP}/collaborators", json={"team": "ops", "role": "viewer"})


def known_bug(case: Case) -> KnownBug | None:
    for bug in KNOWN_BUGS:
        if bug.operation == case.operation.label and bug.matches(case):
            return bug
    return None


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- the tests ------------------------------------------------------------------------------------


@schema.parametrize()
@FUZZ
def test_fuzz_with_admin_token(case: Case, empire: Seeded) -> None:
    """Authenticated as the global admin: no 5xx, every error in the Heroku shape."""
    if known_bug(case) is not None:
        return
    authorization = f"Bearer {empire.stack.token}"
    if case.operation.label == "POST /oauth/authorizations":
        authorization = basic("alice", PASSWORD)  # it authenticates with Basic itself
    headers = {"Authorization": authorization, "Accept": HEROKU}
    try:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=TIMEOUT)
    finally:
        empire.reseed(case.operation.label)


# Open routes answer without a token (POST /oauth/authorizations wants Basic credentials
# itself, a log stream's or a git hook's secret is its credential): for them, only the checks
# apply.
OPEN = {
    "GET /health",
    "POST /oauth/authorizations",
    "GET /log-streams/{secret}",
    "POST /git-hooks/{secret}",
}


@schema_no_token.parametrize()
@settings(FUZZ, max_examples=MAX_EXAMPLES_NO_TOKEN)
def test_fuzz_without_token(case: Case, empire: Seeded) -> None:
    """Without a token every closed route is a 401 in the Heroku shape, whatever the input."""
    response = case.call_and_validate(checks=CHECKS, timeout=TIMEOUT)
    if case.operation.label not in OPEN:
        assert response.status_code == 401, (case.operation.label, response.text)
        assert response.json()["id"] == "unauthorized", response.text


def test_every_body_is_fuzzed_from_a_served_schema() -> None:
    """The fuzz generates bodies from the schemas the document serves (empire.api.bodies):
    an operation that takes a body and leaves it undescribed would get only blind ones."""
    assert operations_without_body_schema(DOCUMENT) == []


def test_seeds_are_served() -> None:
    """Every seeded field and size field is a field of a served body schema (a renamed field
    would otherwise lose its seeds silently)."""
    assert stale_seeds(DOCUMENT) == []
