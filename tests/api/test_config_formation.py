"""/apps/{app}/config-vars and /apps/{app}/formation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, error
from support.stack import Stack

# -- config vars ------------------------------------------------------------------------------


def test_config_before_any_release(client: TestClient) -> None:
    client.post("/apps", json={"name": APP})
    assert client.get(f"/apps/{APP}/config-vars").json() == {}
    response = client.patch(f"/apps/{APP}/config-vars", json={"FOO": "bar"})
    assert response.json() == {"FOO": "bar"}
    assert client.get(f"/apps/{APP}/releases").json() == []  # no release before a deploy


def test_set_merge_unset_and_empty_values(client: TestClient, deployed: str) -> None:
    path = f"/apps/{APP}/config-vars"
    assert client.patch(path, json={"FOO": "bar", "BAZ": "qux"}).json() == {
        "FOO": "bar",
        "BAZ": "qux",
    }
    assert client.patch(path, json={"EMPTY": ""}).json() == {
        "FOO": "bar",
        "BAZ": "qux",
        "EMPTY": "",
    }
    assert client.patch(path, json={"BAZ": None}).json() == {"FOO": "bar", "EMPTY": ""}
    assert client.get(path).json() == {"FOO": "bar", "EMPTY": ""}
    descriptions = [
        r["description"]
        for r in client.get(
            f"/apps/{APP}/releases", headers={"Range": "version ..; order=desc"}
        ).json()
    ]
    assert descriptions[:3] == [
        "Unset BAZ config var (alice)",
        "Set EMPTY config var (alice)",
        "Set BAZ, FOO config vars (alice)",
    ]


def test_config_by_app_id(client: TestClient, deployed: str) -> None:
    app_id = client.get(f"/apps/{APP}").json()["id"]
    assert client.patch(f"/apps/{app_id}/config-vars", json={"A": "1"}).json() == {"A": "1"}


# -- formation --------------------------------------------------------------------------------


def test_formation_shape(client: TestClient, deployed: str) -> None:
    formation = client.get(f"/apps/{APP}/formation").json()
    assert [(f["type"], f["quantity"], f["size"]) for f in formation] == [
        ("migrate", 0, "1X"),
        ("web", 1, "1X"),
        ("worker", 0, "1X"),
    ]
    web = formation[1]
    assert web["command"] == "./bin/web --port $PORT"
    assert web["app"]["name"] == APP
    assert web["id"] and web["noservice"] is False
    assert formation[0]["noservice"] is True


def test_formation_of_an_app_without_release(client: TestClient) -> None:
    client.post("/apps", json={"name": APP})
    error(
        client.get(f"/apps/{APP}/formation"),
        404,
        "not_found",
        f"{APP} has no release yet: deploy an image first (emp deploy IMAGE)",
    )


@pytest.mark.parametrize("key", ["type", "process"])
@pytest.mark.parametrize("quantity", [2, "2", " 2 "])
def test_batch_scale_keyed_by_type_or_process(
    client: TestClient, deployed: str, key: str, quantity: object
) -> None:
    body = {"updates": [{key: "web", "quantity": quantity}, {key: "worker", "quantity": "1"}]}
    response = client.patch(f"/apps/{APP}/formation", json=body)
    assert response.status_code == 200, response.text
    assert [(f["type"], f["quantity"]) for f in response.json()] == [("web", 2), ("worker", 1)]
    names = [d["name"] for d in client.get(f"/apps/{APP}/dynos").json()]
    assert names == ["v1.web.1", "v1.web.2", "v1.worker.1"]


def test_scale_sizes(client: TestClient, deployed: str) -> None:
    path = f"/apps/{APP}/formation"
    for size, shown in (
        ("2X", "2X"),
        ("px", "PX"),
        ("256:1GB", "256:1.00gb"),
        ("512:512MB:nproc=64", "512:512.00mb:nproc=64"),
        ("1x", "1X"),
    ):
        body = {"updates": [{"type": "web", "size": size}]}
        response = client.patch(path, json=body)
        assert response.status_code == 200, response.text
        assert response.json()[0]["size"] == shown
        assert response.json()[0]["quantity"] == 1  # no quantity: the quantity stays


def test_scale_without_quantity_keeps_it(client: TestClient, deployed: str) -> None:
    path = f"/apps/{APP}/formation"
    client.patch(path, json={"updates": [{"type": "web", "quantity": 4}]})
    response = client.patch(path, json={"updates": [{"type": "web", "size": "2X"}]})
    assert response.json()[0]["quantity"] == 4


def test_scale_is_not_a_release(client: TestClient, deployed: str) -> None:
    client.patch(f"/apps/{APP}/formation", json={"updates": [{"type": "web", "quantity": 3}]})
    assert len(client.get(f"/apps/{APP}/releases").json()) == 1


@pytest.mark.parametrize("by", ["type", "id"])
def test_single_formation_by_type_or_id(client: TestClient, deployed: str, by: str) -> None:
    web = next(f for f in client.get(f"/apps/{APP}/formation").json() if f["type"] == "web")
    ident = web[by]
    assert client.get(f"/apps/{APP}/formation/{ident}").json() == web
    response = client.patch(f"/apps/{APP}/formation/{ident}", json={"quantity": "3"})
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "web"
    assert response.json()["quantity"] == 3
    resized = client.patch(f"/apps/{APP}/formation/{ident}", json={"size": "2X"})
    assert (resized.json()["size"], resized.json()["quantity"]) == ("2X", 3)


def test_single_formation_through_the_app_id(client: TestClient, deployed: str) -> None:
    """heroku3 scales with PATCH /apps/{app id}/formation/{type}."""
    app_id = client.get(f"/apps/{APP}").json()["id"]
    response = client.patch(f"/apps/{app_id}/formation/worker", json={"quantity": 2})
    assert response.json()["quantity"] == 2


def test_single_formation_ignores_a_type_in_the_body(client: TestClient, deployed: str) -> None:
    response = client.patch(f"/apps/{APP}/formation/web", json={"type": "worker", "quantity": 2})
    assert (response.json()["type"], response.json()["quantity"]) == ("web", 2)


def test_unknown_formation(client: TestClient, stack: Stack, deployed: str) -> None:
    error(
        client.get(f"/apps/{APP}/formation/nope"),
        404,
        "not_found",
        f"Couldn't find that formation: no process type 'nope' in {APP}",
    )
