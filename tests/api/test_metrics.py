"""/metrics and /apps/{app}/metrics through the API: who may read them, what they say."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, error
from empire.metrics.registry import Metrics
from empire.router.access import RouterRequest
from support.stack import Stack, make_stack

SCRAPER_TOKEN = "s" * 40


def metrics_of(stack: Stack) -> Metrics:
    metrics = stack.api.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


def user_client(stack: Stack, name: str) -> TestClient:
    _, token = stack.empire.create_user(name)
    client = stack.client(token)
    client.headers["Accept"] = HEROKU
    return client


def request(app_id: str, status: int, service_ms: float, app: str = APP) -> RouterRequest:
    return RouterRequest(
        app_id=app_id,
        app=app,
        at=datetime.now(UTC),
        method="GET",
        path="/secret/raw/path?token=x",
        host="www.acme.test",
        status=status,
        bytes=10,
        connect_ms=1.0,
        service_ms=service_ms,
        request_id="req-1",
    )


def test_metrics_needs_a_token_and_an_admin(stack: Stack, client: TestClient) -> None:
    anonymous = stack.client()
    del anonymous.headers["Authorization"]
    error(anonymous.get("/metrics"), 401, "unauthorized")
    bob = user_client(stack, "bob")
    message = (
        "bob is not a global admin: reading /metrics needs one (a scraper uses "
        "EMPIRE_METRICS_TOKEN, or an address in EMPIRE_METRICS_ALLOW)"
    )
    error(bob.get("/metrics"), 403, "forbidden", message)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE empire_api_request_duration_seconds histogram" in response.text


def test_api_requests_are_labelled_by_route_template_and_status_class(
    stack: Stack, client: TestClient, deployed: str
) -> None:
    for _ in range(3):
        assert client.get(f"/apps/{APP}/formation").status_code == 200
    assert client.get("/apps/no-such-app").status_code == 404
    assert client.get("/no/such/route/at/all").status_code == 404
    text = client.get("/metrics").text
    count = "empire_api_request_duration_seconds_count"
    assert f'{count}{{route="GET /apps/{{app}}/formation",status="2xx"}} 3.0' in text
    assert f'{count}{{route="GET /apps/{{app}}",status="4xx"}} 1.0' in text
    assert f'{count}{{route="other",status="4xx"}} 1.0' in text
    api_lines = [line for line in text.splitlines() if line.startswith("empire_api")]
    assert api_lines and not [line for line in api_lines if "no-such-app" in line or APP in line]
    assert "/no/such" not in text


def test_the_metrics_token_and_the_allowed_addresses_need_no_user(tmp_path: Path) -> None:
    stack = make_stack(
        tmp_path,
        env={"EMPIRE_METRICS_TOKEN": SCRAPER_TOKEN, "EMPIRE_METRICS_ALLOW": "10.1.0.0/16"},
    )
    scraper = stack.client(SCRAPER_TOKEN)
    response = scraper.get("/metrics")
    assert response.status_code == 200 and "empire_api_request_duration_seconds" in response.text
    # The metrics token is no user's token: nothing else opens with it.
    error(scraper.get("/apps"), 401, "unauthorized")
    error(stack.client("s" * 39 + "t").get("/metrics"), 401, "unauthorized")

    async def get(client_address: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=stack.api, client=(client_address, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://empire") as http:
            return await http.get("/metrics")

    assert asyncio.run(get("10.1.2.3")).status_code == 200
    assert asyncio.run(get("::ffff:10.1.9.9")).status_code == 200  # a server on ::
    assert asyncio.run(get("10.2.0.1")).status_code == 401
    assert asyncio.run(get("2001:db8::1")).status_code == 401
    assert asyncio.run(get("not-an-address")).status_code == 401


def test_metrics_off_means_no_metrics(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, env={"EMPIRE_METRICS": "false"})
    with stack.client() as client:
        error(client.get("/metrics"), 501, "not_implemented")


def test_the_app_view_shows_the_routers_requests_and_the_processes(
    stack: Stack, client: TestClient, deployed: str
) -> None:
    metrics = metrics_of(stack)
    app_id = client.get(f"/apps/{APP}").json()["id"]
    for _ in range(18):
        metrics.observe(request(app_id, 200, 20.0))
    metrics.observe(request(app_id, 502, 3000.0))
    metrics.observe(request(app_id, 404, 5.0))
    response = client.get(f"/apps/{APP}/metrics", params={"minutes": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["app"] == {"id": app_id, "name": APP}
    assert body["minutes"] == 2
    router = body["router"]
    assert router["requests"] == 20 and router["errors_5xx"] == 1
    assert router["by_status"] == {"2xx": 18, "4xx": 1, "5xx": 1}
    assert router["requests_per_second"] == pytest.approx(20 / 120, abs=1e-3)
    assert 10 <= router["p50_ms"] <= 25 and router["p95_ms"] > 20
    assert [p["type"] for p in body["processes"]] == ["web", "worker"]
    web = body["processes"][0]
    assert (web["desired"], web["running"]) == (1, None)  # not read from the engine yet
    series = body["series"]
    assert series["step_seconds"] == 60 and len(series["router"]["requests"]) == 60
    assert series["router"]["requests"][-1] == 20
    assert set(series["processes"]) == {"web", "worker"}
    # The router's series in the exposition: by app and status class, never a path or an id.
    text = client.get("/metrics").text
    assert f'empire_router_requests_total{{app="{APP}",status="2xx"}} 18.0' in text
    assert f'empire_router_request_duration_seconds_count{{app="{APP}"}} 20.0' in text
    assert "/secret/raw/path" not in text and "req-1" not in text


def test_a_viewer_sees_only_their_apps(stack: Stack, client: TestClient, deployed: str) -> None:
    assert client.post("/apps", json={"name": "blog"}).status_code == 201
    bob = user_client(stack, "bob")
    assert (
        client.post(f"/apps/{APP}/collaborators", json={"user": "bob", "role": "viewer"})
    ).status_code == 201
    assert bob.get(f"/apps/{APP}/metrics").status_code == 200
    error(
        bob.get("/apps/blog/metrics"), 404, "not_found", "Couldn't find that app: no app named blog"
    )


@pytest.mark.parametrize("minutes", ["0", "61", "-1", "x", "1e3", "9" * 50])
def test_minutes_out_of_range_are_refused(client: TestClient, deployed: str, minutes: str) -> None:
    response = client.get(f"/apps/{APP}/metrics", params={"minutes": minutes})
    body = error(response, 400, "bad_request")
    assert "use a number from 1 to 60" in body["message"]
