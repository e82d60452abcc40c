"""The request id the gate assigns or echoes is recorded on the audit events it caused, through
sync handlers (Starlette's threadpool) and the deploy stream (a thread of its own)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.api_support import APP, IMAGE, ndjson
from empire.events import REQUEST_ID
from support.stack import Stack


def test_a_write_records_the_request_id_it_was_sent_with(client: TestClient, stack: Stack) -> None:
    response = client.post("/apps", json={"name": "acme"}, headers={"Request-Id": "req-create-1"})
    assert response.status_code == 201
    assert response.headers["request-id"] == "req-create-1"
    assert [e.request_id for e in stack.events.events] == ["req-create-1"]
    audit = client.get("/apps/acme/audit").json()
    assert [(e["kind"], e["request_id"]) for e in audit] == [("create", "req-create-1")]


def test_without_one_the_generated_id_is_recorded(client: TestClient, stack: Stack) -> None:
    response = client.post("/apps", json={"name": "acme"})
    generated = response.headers["request-id"]
    assert len(generated) == 36
    assert stack.events.events[-1].request_id == generated
    other = client.post("/apps", json={"name": "other"}, headers={"X-Request-Id": "edge-7"})
    assert other.headers["request-id"] == "edge-7"
    assert stack.events.events[-1].request_id == "edge-7"


def test_the_deploy_stream_records_the_request_id(client: TestClient, stack: Stack) -> None:
    response = client.post(
        "/deploys", json={"image": IMAGE, "stream": True}, headers={"Request-Id": "req-deploy"}
    )
    assert response.status_code == 200
    assert ndjson(response.text)[-1] == {"status": f"Status: Release v1 of {APP} succeeded"}
    assert [(e.kind, e.request_id) for e in stack.events.events] == [
        ("create", "req-deploy"),
        ("deploy", "req-deploy"),
    ]
    config = client.patch(
        f"/apps/{APP}/config-vars", json={"KEY": "value"}, headers={"Request-Id": "req-set"}
    )
    assert config.status_code == 200
    audit = client.get(f"/apps/{APP}/audit").json()
    assert [(e["kind"], e["request_id"]) for e in audit] == [
        ("set", "req-set"),
        ("deploy", "req-deploy"),
        ("create", "req-deploy"),
    ]


def test_a_long_request_id_is_stored_cut_to_its_column(client: TestClient, stack: Stack) -> None:
    long = "r" * 150
    response = client.post("/apps", json={"name": "acme"}, headers={"Request-Id": long})
    assert response.headers["request-id"] == long
    assert stack.events.events[-1].request_id == long[:64]


def test_the_request_id_does_not_outlive_its_request(client: TestClient, stack: Stack) -> None:
    client.post("/apps", json={"name": "acme"}, headers={"Request-Id": "req-1"})
    assert REQUEST_ID.get() is None  # the test's own context was never touched
    stack.empire.create("direct", by=stack.user)
    assert stack.events.events[-1].request_id is None
