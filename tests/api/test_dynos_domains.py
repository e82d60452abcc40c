"""/apps/{app}/dynos (ps, run, restart, stop), /apps/{app}/formations/{type} and
/apps/{app}/domains."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, Snapshot, error
from support.stack import Stack

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# -- dynos ------------------------------------------------------------------------------------


def test_ps(client: TestClient, deployed: str) -> None:
    [dyno] = client.get(f"/apps/{APP}/dynos").json()
    assert dyno["name"] == "v1.web.1"
    assert dyno["type"] == "web"
    # As the Procfile wrote it: a viewer never reads an expanded value (a secret, say).
    assert dyno["command"] == "./bin/web --port $PORT"
    assert dyno["state"] == "up"
    assert dyno["size"] == "1X"
    assert dyno["host"] == {"id": "fake"}
    assert dyno["release"]["version"] == 1
    assert dyno["attach_url"] is None
    assert RFC3339.match(dyno["updated_at"])
    assert dyno["app"]["name"] == APP


@pytest.mark.parametrize("ident", ["v1.web.1", "web.1"])
def test_one_dyno(client: TestClient, deployed: str, ident: str) -> None:
    assert client.get(f"/apps/{APP}/dynos/{ident}").json()["name"] == "v1.web.1"


def test_run_detached(client: TestClient, stack: Stack, deployed: str) -> None:
    """A Procfile process name runs its command, with the extra arguments appended."""
    body = {"command": "migrate --all", "attach": False, "env": {"A": "1"}, "size": "2X"}
    response = client.post(f"/apps/{APP}/dynos", json=body)
    assert response.status_code == 201, response.text
    dyno = response.json()
    assert dyno["name"] == "v1.run.1"
    assert dyno["command"] == "./bin/migrate --all"
    assert dyno["size"] == "2X"
    assert dyno["attach_url"] is None
    names = [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()]
    assert "v1.run.1" in names


def test_dyno_names_are_unique(client: TestClient, deployed: str) -> None:
    client.post(f"/apps/{APP}/dynos", json={"command": "web --once"})
    names = [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()]
    assert len(names) == len(set(names)) == 2, names


def test_restart_all(client: TestClient, stack: Stack, deployed: str) -> None:
    response = client.delete(f"/apps/{APP}/dynos")
    assert response.status_code == 202
    assert response.json() == {}
    app_id = client.get(f"/apps/{APP}").json()["id"]
    assert stack.scheduler.restarts == [(app_id, None)]


@pytest.mark.parametrize("path", ["dynos/web", "formations/web"])
def test_restart_a_process_type(client: TestClient, stack: Stack, deployed: str, path: str):
    """emp restart web: DELETE /dynos/web; heroku ps:restart -p web: DELETE /formations/web."""
    response = client.delete(f"/apps/{APP}/{path}")
    assert response.status_code == 202
    assert response.json() == {}
    app_id = client.get(f"/apps/{APP}").json()["id"]
    assert stack.scheduler.restarts == [(app_id, "web")]
    assert stack.scheduler.stopped == []


@pytest.mark.parametrize("ident", ["v1.web.1", "web.1"])
def test_restart_one_dyno_stops_it(
    client: TestClient, stack: Stack, deployed: str, ident: str
) -> None:
    """emp restart v1.web.1 and heroku ps:restart -d web.1: the task is stopped (and, its
    process being scaled up, replaced)."""
    response = client.delete(f"/apps/{APP}/dynos/{ident}")
    assert response.status_code == 202
    assert response.json() == {}
    assert stack.scheduler.stopped == ["v1.web.1"]
    assert stack.scheduler.restarts == []


def test_stop_a_one_off(client: TestClient, stack: Stack, deployed: str) -> None:
    name = client.post(f"/apps/{APP}/dynos", json={"command": "sleep 60"}).json()["name"]
    assert name == "v1.run.1"
    assert client.delete(f"/apps/{APP}/dynos/{name}").status_code == 202
    assert name not in [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()]


@pytest.mark.parametrize("ident", ["nope", "web.9", "v1.web.9", "v9.web.1"])
def test_unknown_dyno(client: TestClient, deployed: str, snapshot: Snapshot, ident: str) -> None:
    before = snapshot()
    message = f"Couldn't find that dyno: no dyno '{ident}' in {APP} (see `emp ps`)"
    error(client.delete(f"/apps/{APP}/dynos/{ident}"), 404, "not_found", message)
    error(client.get(f"/apps/{APP}/dynos/{ident}"), 404, "not_found", message)
    assert snapshot() == before


def test_restart_an_unknown_process_type(
    client: TestClient, deployed: str, snapshot: Snapshot
) -> None:
    before = snapshot()
    error(
        client.delete(f"/apps/{APP}/formations/nope"),
        404,
        "not_found",
        f"no process type 'nope' in {APP} v1",
    )
    assert snapshot() == before


# -- domains ----------------------------------------------------------------------------------


def test_domains(client: TestClient, stack: Stack, deployed: str) -> None:
    app_id = client.get(f"/apps/{APP}").json()["id"]
    assert client.get(f"/apps/{APP}/domains").json() == []
    body = {"hostname": "www.example.com", "sni_endpoint": None}  # as heroku domains:add
    response = client.post(f"/apps/{APP}/domains", json=body)
    assert response.status_code == 201
    domain = response.json()
    assert domain["hostname"] == "www.example.com"
    assert domain["kind"] == "custom"
    assert domain["status"] == "none"
    assert domain["cname"]
    assert RFC3339.match(domain["created_at"])
    assert client.get(f"/apps/{APP}").json()["exposure"] == "public"
    assert stack.scheduler.manifests[app_id].public is True
    assert [d["hostname"] for d in client.get(f"/apps/{APP}/domains").json()] == ["www.example.com"]
    by_id = client.get(f"/apps/{APP}/domains/{domain['id']}").json()
    by_name = client.get(f"/apps/{APP}/domains/www.example.com").json()
    assert by_id == by_name == domain
    removed = client.delete(f"/apps/{APP}/domains/www.example.com")
    assert removed.status_code == 200
    assert removed.json()["hostname"] == "www.example.com"
    assert client.get(f"/apps/{APP}").json()["exposure"] == "private"
    assert stack.scheduler.manifests[app_id].public is False


def test_remove_domain_by_id(client: TestClient, deployed: str) -> None:
    domain = client.post(f"/apps/{APP}/domains", json={"hostname": "a.example.com"}).json()
    assert client.delete(f"/apps/{APP}/domains/{domain['id']}").status_code == 200
    assert client.get(f"/apps/{APP}/domains").json() == []


def test_domains_are_globally_unique(client: TestClient, deploy, deployed: str) -> None:
    client.post("/apps", json={"name": "other"})
    client.post(f"/apps/{APP}/domains", json={"hostname": "www.example.com"})
    error(
        client.post("/apps/other/domains", json={"hostname": "www.example.com"}),
        409,
        "conflict",
        "www.example.com is currently in use by another app.",
    )
    error(
        client.post(f"/apps/{APP}/domains", json={"hostname": "www.example.com"}),
        409,
        "conflict",
        "www.example.com is already added to this app.",
    )
