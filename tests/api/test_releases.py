"""/apps/{app}/releases: list, info by version (3, v3) or id, rollback, the config vars of a
release, and the wire status of each outcome."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, IMAGE, Deploy, error
from empire.api import render
from empire.model import Outcome
from empire.scheduler import Verdict
from support.stack import Stack


def test_release_shape(client: TestClient, stack: Stack, deployed: str) -> None:
    [release] = client.get(f"/apps/{APP}/releases").json()
    assert uuid.UUID(release["id"])
    assert release["version"] == 1
    assert release["description"] == f"Deploy {IMAGE} (alice)"
    assert release["user"]["email"] == "alice@example.com"
    assert release["user"]["id"] == stack.user.id
    assert release["created_at"] == "2026-11-26T10:00:00Z"
    assert release["app"]["name"] == APP
    assert uuid.UUID(release["slug"]["id"])
    assert release["current"] is True
    assert release["eligible_for_rollback"] is True
    assert release["status"] == "succeeded"
    assert release["outcome"] == "succeeded"
    assert release["outcome_reason"] == ""
    assert release["addon_plan_names"] == []
    assert release["output_stream_url"] is None


@pytest.mark.parametrize("form", ["1", "v1", "V1", "id"])
def test_info_by_version_or_id(client: TestClient, deployed: str, form: str) -> None:
    [listed] = client.get(f"/apps/{APP}/releases").json()
    ident = listed["id"] if form == "id" else form
    response = client.get(f"/apps/{APP}/releases/{ident}")
    assert response.status_code == 200
    assert response.json() == listed


def test_info_by_app_id(client: TestClient, deployed: str) -> None:
    app_id = client.get(f"/apps/{APP}").json()["id"]
    assert client.get(f"/apps/{app_id}/releases/1").json()["version"] == 1


def test_current_is_the_newest(client: TestClient, deployed: str) -> None:
    client.patch(f"/apps/{APP}/config-vars", json={"A": "1"})
    releases = client.get(f"/apps/{APP}/releases").json()
    assert [(r["version"], r["current"]) for r in releases] == [(1, False), (2, True)]
    assert releases[1]["description"] == "Set A config var (alice)"


@pytest.mark.parametrize("target", ["1", "v1", 1, "id"])
def test_rollback(client: TestClient, stack: Stack, deployed: str, target: object) -> None:
    client.patch(f"/apps/{APP}/config-vars", json={"A": "1"})
    client.patch(f"/apps/{APP}/formation", json={"updates": [{"type": "web", "quantity": 3}]})
    if target == "id":
        target = client.get(f"/apps/{APP}/releases/1").json()["id"]
    response = client.post(f"/apps/{APP}/releases", json={"release": target})
    assert response.status_code == 201, response.text
    release = response.json()
    assert release["version"] == 3
    assert release["description"] == "Rollback to v1 (alice)"
    assert release["status"] == "succeeded"
    assert release["current"] is True
    assert client.get(f"/apps/{APP}/config-vars").json() == {}
    # the old formation comes back too (web was 1 in v1)
    web = client.get(f"/apps/{APP}/formation/web").json()
    assert web["quantity"] == 1


def test_rolled_back_release_shows_failed_on_the_wire(
    client: TestClient, stack: Stack, deployed: str, deploy: Deploy
) -> None:
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web.1 failed its health check"))
    deploy()
    stack.scheduler.fail_next(Verdict(Outcome.FAILED, "no capacity"))
    deploy()
    releases = client.get(f"/apps/{APP}/releases", headers={"Range": "version ..; order=desc"})
    by_version = {r["version"]: r for r in releases.json()}
    assert by_version[2]["status"] == "failed"
    assert by_version[2]["outcome"] == "rolled_back"
    assert by_version[2]["outcome_reason"] == "web.1 failed its health check"
    assert by_version[3]["status"] == "failed"
    assert by_version[3]["outcome"] == "failed"
    assert by_version[3]["outcome_reason"] == "no capacity"
    assert by_version[1]["status"] == "succeeded"


def test_a_failed_rollout_does_not_become_current(
    client: TestClient, stack: Stack, deployed: str, deploy: Deploy
) -> None:
    """The current release is the newest that rolled out: a rolled-back deploy leaves v1."""
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web.1 failed its health check"))
    deploy()
    releases = client.get(f"/apps/{APP}/releases").json()
    assert [(r["version"], r["current"], r["status"]) for r in releases] == [
        (1, True, "succeeded"),
        (2, False, "failed"),
    ]
    assert client.get(f"/apps/{APP}/releases/2").json()["current"] is False


def test_a_rolled_back_rollback_is_not_current(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    client.patch(f"/apps/{APP}/config-vars", json={"A": "1"})
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web.1 failed its health check"))
    response = client.post(f"/apps/{APP}/releases", json={"release": "1"})
    assert response.json()["status"] == "failed"
    assert response.json()["current"] is False


def test_pending_release_on_the_wire(stack: Stack) -> None:
    """A release whose rollout has not ended yet is pending (the presenter, directly)."""
    stack.empire.deploy(IMAGE, by=stack.user)
    release = dataclasses.replace(
        stack.empire.release(APP, "1", by=stack.user), outcome=Outcome.PENDING
    )
    rendered = render.release_json(release)
    assert (rendered["status"], rendered["outcome"]) == ("pending", "pending")


@pytest.mark.parametrize("path", ["releases/{v}/config-vars", "config-vars/{v}"])
def test_config_vars_of_a_release(client: TestClient, deployed: str, path: str) -> None:
    client.patch(f"/apps/{APP}/config-vars", json={"A": "1", "B": "2"})
    client.patch(f"/apps/{APP}/config-vars", json={"A": None})
    for version, expected in (("1", {}), ("2", {"A": "1", "B": "2"}), ("v3", {"B": "2"})):
        response = client.get(f"/apps/{APP}/" + path.format(v=version))
        assert response.status_code == 200
        assert response.json() == expected
    release_id = client.get(f"/apps/{APP}/releases/2").json()["id"]
    assert client.get(f"/apps/{APP}/releases/{release_id}/config-vars").json() == {
        "A": "1",
        "B": "2",
    }


def test_unknown_release_config_vars(client: TestClient, deployed: str) -> None:
    error(
        client.get(f"/apps/{APP}/releases/9/config-vars"),
        404,
        "not_found",
        f"Couldn't find that release: {APP} has no release 9",
    )


def test_creating_a_release_from_a_slug_is_not_supported(client: TestClient, deployed: str) -> None:
    error(
        client.post(f"/apps/{APP}/releases", json={"slug": "x"}),
        501,
        "not_implemented",
        "releases are made by deploying an image: use emp deploy IMAGE",
    )
