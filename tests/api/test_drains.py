"""/apps/{app}/log-drains: Heroku's shape, removal by URL, token or id, bad input, roles,
the audit trail, drains kept across restarts (a new Empire on the same database)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, error
from empire.images.fake import FakeImages
from empire.scheduler.fake import FakeScheduler
from empire.settings import Settings
from empire.store.sql import SqlStore, connect
from empire.wiring import build_empire
from support.stack import FrozenClock, Stack, make_stack

TLS = "syslog+tls://logs.example.com:6514"
HTTPS = "https://user:secret@logs.example.com/ingest?key=1"


def test_add_list_show_remove(client: TestClient, stack: Stack) -> None:
    client.post("/deploys", json={"image": "acme/acme-inc:v1"})
    added = client.post(f"/apps/{APP}/log-drains", json={"url": TLS})
    assert added.status_code == 201, added.text
    drain = added.json()
    assert set(drain) == {"id", "url", "token", "addon", "app", "created_at", "updated_at"}
    assert drain["url"] == TLS and drain["addon"] is None
    assert re.fullmatch(r"d\.[0-9a-f-]{36}", drain["token"])
    assert drain["app"]["name"] == APP
    assert client.post(f"/apps/{APP}/log-drains", json={"url": HTTPS}).status_code == 201
    listed = client.get(f"/apps/{APP}/log-drains").json()
    assert sorted(d["url"] for d in listed) == sorted([TLS, HTTPS])
    for key in (drain["id"], drain["token"], quote(TLS, safe="")):
        assert client.get(f"/apps/{APP}/log-drains/{key}").json()["id"] == drain["id"]
    # heroku drains:remove sends the URL percent-encoded; a token works too.
    removed = client.delete(f"/apps/{APP}/log-drains/{quote(HTTPS, safe='')}")
    assert removed.status_code == 200 and removed.json()["url"] == HTTPS
    removed = client.delete(f"/apps/{APP}/log-drains/{drain['token']}")
    assert removed.json()["id"] == drain["id"]
    assert client.get(f"/apps/{APP}/log-drains").json() == []
    error(client.delete(f"/apps/{APP}/log-drains/{drain['token']}"), 404, "not_found")
    texts = [e.text for e in stack.events.events if e.kind == "drain"]
    assert texts == [
        f"alice added a log drain to {APP}",
        f"alice added a log drain to {APP}",
        f"alice removed a log drain from {APP}",
        f"alice removed a log drain from {APP}",
    ]
    assert all(HTTPS not in str(e.data) for e in stack.events.events)  # never the URL


def test_bad_drains(client: TestClient) -> None:
    client.post("/deploys", json={"image": "acme/acme-inc:v1"})
    cases = {
        "gopher://logs.example.com:70": "unknown drain scheme gopher://",
        "syslog://": "has no host",
        "syslog://admin:pw@logs.example.com:514": "cannot carry credentials",
        "syslog://127.0.0.1:514": "loopback",
        "https://169.254.169.254/": "link-local",
        "syslog://2130706433:514": "invalid drain host",
        "https://localhost:8080/": "localhost",
    }
    for url, why in cases.items():
        body = error(client.post(f"/apps/{APP}/log-drains", json={"url": url}), 400, "bad_request")
        assert why in body["message"], (url, body)
    for body in ({}, {"url": 5}, [1], {"url": "https://x.example.com/\u0000"}):
        error(client.post(f"/apps/{APP}/log-drains", json=body), 400, "bad_request")
    assert client.post(f"/apps/{APP}/log-drains", json={"url": TLS}).status_code == 201
    error(
        client.post(f"/apps/{APP}/log-drains", json={"url": TLS.upper().replace("LOGS", "Logs")}),
        409,
        "conflict",
    )
    for n in range(4):
        url = f"syslog+tls://logs{n}.example.com:6514"
        assert client.post(f"/apps/{APP}/log-drains", json={"url": url}).status_code == 201
    body = error(
        client.post(f"/apps/{APP}/log-drains", json={"url": "https://six.example.com/"}),
        400,
        "bad_request",
    )
    assert "5 drains, the most an app may have" in body["message"]
    error(client.get("/apps/nope/log-drains"), 404, "not_found")


def test_viewers_see_no_drain_urls(stack: Stack, client: TestClient) -> None:
    client.post("/deploys", json={"image": "acme/acme-inc:v1"})
    client.post(f"/apps/{APP}/log-drains", json={"url": HTTPS})
    _, token = stack.empire.create_user("vera")
    stack.empire.grant(APP, "vera", "viewer", by=stack.user)
    with stack.client(token) as viewer:
        viewer.headers["Accept"] = HEROKU
        refused = error(viewer.get(f"/apps/{APP}/log-drains"), 403, "forbidden")
        assert "secret" not in refused["message"]
        error(viewer.post(f"/apps/{APP}/log-drains", json={"url": TLS}), 403, "forbidden")


def test_drains_survive_a_restart(tmp_path: Path) -> None:
    first = make_stack(tmp_path)
    with first.client() as client:
        client.post("/deploys", json={"image": "acme/acme-inc:v1"})
        assert client.post(f"/apps/{APP}/log-drains", json={"url": TLS}).status_code == 201
    # A new Empire on the same database, as after a restart.
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake"}
    )
    again = build_empire(
        settings,
        store=SqlStore(connect(settings.database_url)),
        scheduler=FakeScheduler(FrozenClock()),
        images=FakeImages(),
    )
    assert [(name, d.url) for name, d in again.live_drains()] == [(APP, TLS)]
    again.destroy(APP, by=first.user)
    assert again.live_drains() == []
