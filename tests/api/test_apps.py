"""/apps: create, list, info (by name or id), update (maintenance, rename, cert), destroy;
/account and the Heroku stubs the CLI needs."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient

from api.api_support import APP, error
from support.stack import Stack

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_create_returns_a_heroku_app(client: TestClient, stack: Stack) -> None:
    response = client.post("/apps", json={"name": "acme-inc"})
    assert response.status_code == 201
    app = response.json()
    assert uuid.UUID(app["id"])
    assert app["name"] == "acme-inc"
    assert app["maintenance"] is False
    assert RFC3339.match(app["created_at"]) and RFC3339.match(app["updated_at"])
    # what the heroku CLI reads (heroku-compat.md §4)
    assert app["owner"] == {"id": stack.user.id, "email": "alice@example.com"}
    assert app["generation"]["name"] == "cedar"
    assert app["create_status"] == "complete"
    assert app["repo_size"] == 0 and app["slug_size"] == 0
    assert app["build_stack"]["name"] == app["stack"]["name"]
    assert app["region"]["name"] and app["acm"] is False
    assert "git_url" in app and "web_url" in app
    assert app.get("process_tier") != "eco"
    # Empire's own
    assert app["exposure"] == "private"
    assert app["certs"] == {}


def test_create_ignores_heroku_only_fields(client: TestClient) -> None:
    """heroku3 sends stack "cedar" by default; region, team and space are optional."""
    body = {"name": "acme-inc", "stack": "cedar", "region": "eu", "team": None, "space": None}
    assert client.post("/apps", json=body).status_code == 201


def test_create_through_organizations_apps(client: TestClient) -> None:
    """The Go emp's `create` posts to /organizations/apps."""
    response = client.post("/organizations/apps", json={"name": "acme-inc", "organization": ""})
    assert response.status_code == 201
    assert client.get("/apps/acme-inc").json()["id"] == response.json()["id"]


def test_info_by_name_or_id(client: TestClient) -> None:
    created = client.post("/apps", json={"name": "acme-inc"}).json()
    by_name = client.get("/apps/acme-inc").json()
    by_id = client.get(f"/apps/{created['id']}").json()
    assert by_name == by_id == created


def test_list(client: TestClient) -> None:
    for name in ("bravo", "alpha", "charlie"):
        client.post("/apps", json={"name": name})
    assert [a["name"] for a in client.get("/apps").json()] == ["alpha", "bravo", "charlie"]
    assert [a["name"] for a in client.get("/users/~/apps").json()] == [
        "alpha",
        "bravo",
        "charlie",
    ]


def test_maintenance(client: TestClient, stack: Stack, deployed: str) -> None:
    app_id = client.get(f"/apps/{APP}").json()["id"]
    response = client.patch(f"/apps/{APP}", json={"maintenance": True})
    assert response.status_code == 200
    assert response.json()["maintenance"] is True
    assert client.get(f"/apps/{APP}").json()["maintenance"] is True
    assert all(p.quantity == 0 for p in stack.scheduler.manifests[app_id].processes)
    assert client.get(f"/apps/{APP}/dynos").json() == []
    client.patch(f"/apps/{APP}", json={"maintenance": False})
    assert [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()] == ["v1.web.1"]


def test_rename_really_renames(client: TestClient, deployed: str) -> None:
    before = client.get(f"/apps/{APP}").json()
    response = client.patch(f"/apps/{before['id']}", json={"name": "acme-two"})
    assert response.status_code == 200
    assert response.json()["name"] == "acme-two"
    assert response.json()["id"] == before["id"]
    error(client.get(f"/apps/{APP}"), 404, "not_found")
    assert client.get("/apps/acme-two/releases").json()[0]["version"] == 1
    assert client.post("/apps", json={"name": APP}).status_code == 201


def test_cert_attach(client: TestClient, deployed: str) -> None:
    assert client.post(f"/apps/{APP}/certs", json={"cert": "acme-cert"}).json() == {}
    app = client.get(f"/apps/{APP}").json()
    assert app["cert"] == "acme-cert"
    assert app["certs"] == {"web": "acme-cert"}
    body = {"cert": "arn:aws:acm:us-east-1:1:certificate/x", "process": "api"}
    assert client.post(f"/apps/{APP}/certs", json=body).status_code == 200
    assert client.get(f"/apps/{APP}").json()["certs"]["api"] == body["cert"]
    # the deprecated PATCH form attaches to web
    client.patch(f"/apps/{APP}", json={"cert": "other"})
    assert client.get(f"/apps/{APP}").json()["cert"] == "other"


def test_destroy_is_a_soft_delete_that_frees_the_name(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    app = client.get(f"/apps/{APP}").json()
    response = client.delete(f"/apps/{app['id']}")
    assert response.status_code == 200
    assert response.json()["name"] == APP
    assert app["id"] not in stack.scheduler.manifests
    error(
        client.get(f"/apps/{APP}"), 404, "not_found", f"Couldn't find that app: no app named {APP}"
    )
    assert client.get("/apps").json() == []
    again = client.post("/apps", json={"name": APP})
    assert again.status_code == 201
    assert again.json()["id"] != app["id"]
    assert client.get(f"/apps/{APP}/releases").json() == []


def test_stubs_the_heroku_cli_needs(client: TestClient, deployed: str) -> None:
    for path in ("addons", "sni-endpoints"):  # collaborators: see test_roles.py
        assert client.get(f"/apps/{APP}/{path}").json() == []
        error(client.get(f"/apps/nope/{path}"), 404, "not_found")


def test_ssl_endpoints_are_gone(client: TestClient, deployed: str) -> None:
    for method, path in (
        ("GET", f"/apps/{APP}/ssl-endpoints"),
        ("POST", f"/apps/{APP}/ssl-endpoints"),
        ("PATCH", f"/apps/{APP}/ssl-endpoints/x"),
        ("DELETE", f"/apps/{APP}/ssl-endpoints/x"),
    ):
        body = error(client.request(method, path), 404, "not_found")
        assert "emp cert-attach" in body["message"]


def test_a_pem_certificate_is_never_shown(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from support.pki import bundle
    from support.stack import make_stack

    stack = make_stack(tmp_path)
    client = stack.client()
    client.post("/apps", json={"name": "acme-inc"})
    pem = bundle("www.acme.test")
    key = pem[pem.index("-----BEGIN PRIVATE KEY-----") :]
    assert client.post("/apps/acme-inc/certs", json={"cert": pem}).status_code == 200
    shown = client.get("/apps/acme-inc").json()
    assert shown["cert"].startswith("pem:") and key.splitlines()[1] not in str(shown)
