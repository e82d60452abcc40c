"""The OpenAPI document describes every request body, and its examples are bodies the server
takes.

The handlers parse their bodies by hand (`Body(default=None)`), so FastAPI knows nothing of
them: `empire.api.bodies` describes each, as the routes' `openapi_extra`. Only these tests keep
the document and the handlers in step (test_fuzz.py fuzzes from the same schemas):

- every route that takes a body documents it, and the document serves it as declared (FastAPI
  would drop a null from an example's object, say): an object schema, a description, examples
  that the schema accepts;
- every documented example, sent to an Empire with the state it names (acme-inc deployed, the
  user bob, the team ops where needed), answers 2xx.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import jsonschema
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, IMAGE, PROCFILE, handlers, ndjson, served_document
from support.stack import Stack, make_stack

DOCUMENT = served_document()
PASSWORD = "correct horse battery"
# The path parameters the examples are sent with: what the Empire below has.
PATH = {"app": APP, "process": "web", "subject": "bob", "team": "ops"}
# What an example needs beyond acme-inc deployed and the user bob: requests made first.
SETUP: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "POST /apps/{app}/collaborators": [("POST", "/teams", {"name": "ops"})],
    "PATCH /apps/{app}/collaborators/{subject}": [
        ("POST", f"/apps/{APP}/collaborators", {"user": "bob", "role": "deployer"})
    ],
    "PUT /teams/{team}/members": [("POST", "/teams", {"name": "ops"})],
}


def request_bodies(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("METHOD /path", requestBody) for every operation of the document that takes a body."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                yield f"{method.upper()} {path}", operation["requestBody"]


def documented_examples() -> list[Any]:
    return [
        pytest.param(operation, example["value"], id=f"{operation}:{name}")
        for operation, body in request_bodies(DOCUMENT)
        for name, example in body["content"]["application/json"].get("examples", {}).items()
    ]


def test_every_route_that_takes_a_body_documents_it(stack: Stack) -> None:
    taking = {
        f"{method} {path}": route
        for method, path, route in handlers(stack)
        if isinstance(route, APIRoute) and route.body_field is not None and route.include_in_schema
    }
    assert len(taking) >= 18
    assert dict(request_bodies(DOCUMENT)).keys() == taking.keys()
    undocumented = [
        label for label, route in taking.items() if "requestBody" not in (route.openapi_extra or {})
    ]
    assert undocumented == [], "describe these bodies in empire.api.bodies"
    for label, body in request_bodies(DOCUMENT):
        assert body == taking[label].openapi_extra["requestBody"], f"{label} not served as declared"
        assert body["description"], label
        media = body["content"]["application/json"]
        schema = media["schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["title"] != "Body", label
        assert media["examples"], f"{label} has no example"
        for name, example in media["examples"].items():
            assert example["summary"], (label, name)
            jsonschema.validate(example["value"], schema, jsonschema.Draft202012Validator)


@pytest.fixture
def example_client(tmp_path: Path) -> Iterator[TestClient]:
    """alice's client on an Empire with acme-inc deployed (web, worker, migrate), the user bob
    and alice's password."""
    stack = make_stack(tmp_path)
    stack.images.add(IMAGE, procfile=PROCFILE)
    with pytest.MonkeyPatch.context() as monkeypatch:
        gensalt = bcrypt.gensalt  # bcrypt's default cost makes each login a quarter of a second
        monkeypatch.setattr(bcrypt, "gensalt", lambda: gensalt(rounds=4))
        stack.empire.set_password("alice", PASSWORD)
    stack.empire.create_user("bob", email="bob@example.com")
    with stack.client() as client:
        client.headers["Accept"] = HEROKU
        assert client.post("/deploys", json={"image": IMAGE}).status_code == 200
        yield client


@pytest.mark.parametrize(("operation", "value"), documented_examples())
def test_a_documented_example_is_accepted(
    example_client: TestClient, operation: str, value: Any
) -> None:
    for method, path, body in SETUP.get(operation, []):
        done = example_client.request(method, path, json=body)
        assert done.status_code < 300, done.text
    method, template = operation.split(" ", 1)
    headers = {}
    if operation == "POST /oauth/authorizations":  # it authenticates with Basic itself
        headers["Authorization"] = (
            "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        )
    response = example_client.request(method, template.format(**PATH), json=value, headers=headers)
    assert 200 <= response.status_code < 300, response.text
    if "boundary=NL" in response.headers["content-type"]:  # a deploy's progress: no error in it
        assert not [line for line in ndjson(response.text) if "error" in line], response.text
