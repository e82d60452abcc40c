"""The dashboard in-process: sign-in and sessions, CSRF, roles, escaping, offline assets.

The browser tests (tests/browser) drive the same pages in a real Chromium; these check the
rules every page must keep, quickly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.api_support import HEROKU, IMAGE, ndjson
from api.conftest import fresh_stack
from support.stack import Stack

HTML = "text/html,application/xhtml+xml"
EVIL = '<script>alert("x")</script>'


@pytest.fixture
def site(tmp_path: Path) -> Stack:
    """An Empire with acme-inc deployed, alice (admin, password `alice-password`), bob a viewer of
    acme-inc (password `bob-password`) and carol a deployer (password `carol-password`)."""
    stack = fresh_stack(tmp_path)
    empire = stack.empire
    with stack.client() as api:
        api.headers["Accept"] = HEROKU
        assert ndjson(api.post("/deploys", json={"image": IMAGE, "stream": True}).text)
        assert api.patch("/apps/acme-inc/config-vars", json={"SECRET": "s3cr3t"}).is_success
    empire.set_password("alice", "alice-password")
    for name, role in (("bob", "viewer"), ("carol", "deployer")):
        empire.create_user(name)
        empire.set_password(name, f"{name}-password")
        empire.grant("acme-inc", name, role, by=stack.user)
    return stack


def browser(stack: Stack) -> TestClient:
    client = TestClient(stack.api, raise_server_exceptions=False, follow_redirects=False)
    client.headers["Accept"] = HTML
    return client


def sign_in(stack: Stack, name: str) -> tuple[TestClient, str]:
    """A browser signed in as `name`, and the CSRF token of its session."""
    client = browser(stack)
    response = client.post(
        "/login", data={"username": name, "password": f"{name}-password", "next": "/ui/apps"}
    )
    assert response.status_code == 303, response.text
    page = client.get("/ui/apps/acme-inc")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert match
    return client, match.group(1)


def test_a_browser_without_a_session_gets_the_sign_in_form_and_comes_back(site: Stack) -> None:
    client = browser(site)
    first = client.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/ui/apps"
    page = client.get("/ui/apps/acme-inc")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/ui/apps/acme-inc"
    form = client.get(page.headers["location"])
    assert 'name="username"' in form.text and 'name="password"' in form.text
    signed = client.post(
        "/login",
        data={"username": "alice", "password": "alice-password", "next": "/ui/apps/acme-inc"},
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/apps/acme-inc"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is Secure (next test)
    assert client.get("/ui/apps/acme-inc").status_code == 200


def test_the_cookie_is_secure_behind_tls_and_next_stays_on_this_server(site: Stack) -> None:
    client = browser(site)
    signed = client.post(
        "/login",
        data={"username": "alice", "password": "alice-password", "next": "https://evil.test/x"},
        headers={"X-Forwarded-Proto": "https"},
    )
    cookie = signed.headers["set-cookie"]
    assert "Secure" in cookie and cookie.startswith("__Host-empire_session=")
    assert signed.headers["location"] == "/ui/apps"


def test_api_clients_see_the_api_unchanged(site: Stack) -> None:
    with site.client() as api:
        api.headers["Accept"] = HEROKU
        assert api.get("/apps/acme-inc").json()["name"] == "acme-inc"
        assert api.get("/").status_code == 404  # no such API route
    assert TestClient(site.api).get("/", headers={"Accept": HEROKU}).status_code == 401
    anonymous = TestClient(site.api, raise_server_exceptions=False)
    assert anonymous.get("/apps", headers={"Accept": HEROKU}).status_code == 401
    # A browser opening an API path is shown the page instead.
    page = browser(site).get("/apps/acme-inc")
    assert page.status_code == 303 and page.headers["location"] == "/ui/apps/acme-inc"


def test_every_dashboard_route_needs_a_session(site: Stack) -> None:
    from api.api_support import dashboard, routes
    from api.test_auth import concrete

    client = browser(site)
    client.cookies.set("empire_session", site.token + "x")  # not a session
    before = len(site.events.events)
    checked = 0
    for method, template in routes(site):
        if not dashboard(method, template) or template in ("/login", "/logout"):
            continue
        response = client.request(method, concrete(template), data={"csrf": "x"})
        assert response.status_code in (303, 401), (method, template, response.status_code)
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login?next=")
        checked += 1
    assert checked >= 9
    assert len(site.events.events) == before  # nothing reached a write


def test_a_wrong_password_is_refused_and_limited_as_emp_login(site: Stack) -> None:
    client = browser(site)
    wrong = client.post("/login", data={"username": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "Invalid credentials" in wrong.text
    assert "empire_session" not in wrong.headers.get("set-cookie", "")
    codes = [
        client.post("/login", data={"username": "alice", "password": "nope"}).status_code
        for _ in range(6)
    ]
    assert 429 in codes  # five per user name, then one a minute


def test_every_change_needs_the_csrf_token(site: Stack) -> None:
    client, csrf = sign_in(site, "alice")
    scale = {"process": "web", "quantity": "3"}
    refused = client.post("/ui/apps/acme-inc/scale", data=scale)
    assert refused.status_code == 403
    forged = client.post("/ui/apps/acme-inc/scale", data={**scale, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert _web(site) == 1
    done = client.post("/ui/apps/acme-inc/scale", data={**scale, "csrf": csrf})
    assert done.status_code == 303
    assert _web(site) == 3
    assert client.get("/ui/apps/acme-inc/config").status_code == 403  # no header token
    assert client.post("/ui/apps/acme-inc/deploy", json={"image": IMAGE}).status_code == 403


def test_config_rollback_and_sign_out(site: Stack) -> None:
    client, csrf = sign_in(site, "carol")
    set_var = client.post(
        "/ui/apps/acme-inc/config", data={"name": "COLOR", "value": "blue", "csrf": csrf}
    )
    assert set_var.status_code == 303
    assert site.empire.config("acme-inc", by=site.user)["COLOR"] == "blue"
    page = client.get("/ui/apps/acme-inc").text
    assert "added COLOR" in page and "added SECRET" in page and "first release" in page
    assert "blue" not in page  # names only, never values
    values = client.get("/ui/apps/acme-inc/config", headers={"X-CSRF-Token": csrf})
    assert values.json()["SECRET"] == "s3cr3t"
    assert values.headers["cache-control"] == "no-store"
    versions = [r.version for r in site.empire.releases("acme-inc", _page(), by=site.user)]
    back = client.post("/ui/apps/acme-inc/rollback", data={"version": "1", "csrf": csrf})
    assert back.status_code == 303
    after = site.empire.releases("acme-inc", _page(), by=site.user)
    assert len(after) == len(versions) + 1 and "Rollback to v1" in after[-1].description
    bad = client.post("/ui/apps/acme-inc/rollback", data={"version": "99", "csrf": csrf})
    assert (
        bad.status_code == 404 and "has no release 99" in bad.text
    )  # the page again, with the error
    out = client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # The session's token is revoked: the old cookie opens nothing any more.
    assert client.get("/ui/apps").status_code == 303


def test_a_viewer_sees_neither_values_nor_controls(site: Stack) -> None:
    client, csrf = sign_in(site, "bob")
    page = client.get("/ui/apps/acme-inc").text
    assert "SECRET" in page and "s3cr3t" not in page
    for control in ("/scale", "/rollback", "deploy-form", "Reveal values", "config-form"):
        assert control not in page
    assert client.get("/ui/apps/acme-inc/config", headers={"X-CSRF-Token": csrf}).status_code == 403
    refused = client.post(
        "/ui/apps/acme-inc/scale", data={"process": "web", "quantity": "0", "csrf": csrf}
    )
    assert refused.status_code == 403 and "deployer" in refused.text


def test_apps_one_cannot_view_do_not_exist(site: Stack) -> None:
    with site.client() as api:
        api.headers["Accept"] = HEROKU
        assert api.post("/apps", json={"name": "covert"}).status_code == 201
    client, _ = sign_in(site, "bob")
    assert "covert" not in client.get("/ui/apps").text
    assert client.get("/ui/apps/covert").status_code == 404


def test_names_values_and_messages_are_text_never_markup(site: Stack) -> None:
    with site.client() as api:
        api.headers["Accept"] = HEROKU
        api.headers["Commit-Message"] = EVIL
        assert api.patch("/apps/acme-inc/config-vars", json={"EVIL": EVIL}).is_success
    client, _ = sign_in(site, "alice")
    page = client.get("/ui/apps/acme-inc").text
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # the commit message
    assert client.get("/ui/apps/acme-inc", headers={}).headers["content-security-policy"]
    login = browser(site).get("/login", params={"next": '/ui/apps/"><script>'})
    assert "<script>" not in login.text.split("</head>", 1)[1]


def test_the_dashboard_and_the_api_docs_need_nothing_from_the_internet(site: Stack) -> None:
    client, _ = sign_in(site, "alice")
    docs = client.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text + client.get("/ui/apps").text)
    assert assets and all(url.startswith("/") for url in assets), assets
    for url in assets:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


def _web(stack: Stack) -> int:
    return next(
        p for p in stack.empire.formation("acme-inc", by=stack.user) if p.name == "web"
    ).quantity


def _page() -> object:
    from empire.model import Page

    return Page("version", max=200)


def test_the_apps_list_comes_in_pages_with_each_apps_release(site: Stack) -> None:
    for i in range(105):
        site.empire.create(f"zz-{i:03d}", by=site.user)
    client, _ = sign_in(site, "alice")
    first = client.get("/ui/apps").text
    assert "acme-inc" in first and "v2" in first  # deployed, then a config var
    assert first.count('href="/ui/apps/zz-') == 99
    more = re.search(r'href="/ui/apps\?after=([^"]+)"', first)
    assert more and more.group(1) == "zz-098"
    rest = client.get(f"/ui/apps?after={more.group(1)}").text
    assert rest.count('href="/ui/apps/zz-') == 6 and "acme-inc" not in rest
    assert "after=" not in rest
    viewer, _ = sign_in(site, "bob")
    shown = viewer.get("/ui/apps").text
    assert "acme-inc" in shown and "v2" in shown and "zz-000" not in shown


def test_the_charts_read_the_apps_metrics_with_the_apps_roles(site: Stack) -> None:
    client, _ = sign_in(site, "bob")
    figures = client.get("/ui/apps/acme-inc/metrics")
    assert figures.status_code == 200 and figures.headers["cache-control"] == "no-store"
    series = figures.json()["series"]
    assert set(series) >= {"start", "step_seconds", "processes", "router"}
    assert len(series["router"]["requests"]) == 60  # the last hour, a point a minute
    with site.client() as api:
        api.headers["Accept"] = HEROKU
        assert api.post("/apps", json={"name": "covert"}).status_code == 201
    assert client.get("/ui/apps/covert/metrics").status_code == 404
    assert browser(site).get("/ui/apps/acme-inc/metrics").status_code == 401


def test_a_session_spends_its_tokens_rate_limit_as_the_api_does(tmp_path: Path) -> None:
    from support.stack import make_stack

    stack = make_stack(tmp_path, env={"EMPIRE_RATE_LIMIT_PER_HOUR": "6"})
    stack.empire.set_password("alice", "alice-password")
    client = browser(stack)
    assert client.post("/login", data={"username": "alice", "password": "alice-password"})
    codes = [client.get("/ui/apps").status_code for _ in range(8)]
    assert codes[0] == 200 and codes[-1] == 429, codes
    refused = client.get("/ui/apps")
    assert refused.json()["id"] == "rate_limit" and int(refused.headers["retry-after"]) >= 1


def test_a_session_is_no_api_token(site: Stack) -> None:
    client, _ = sign_in(site, "carol")
    secret = client.cookies["empire_session"]
    for authorization in (f"Bearer {secret}", "Basic " + _basic("x", secret)):
        refused = TestClient(site.api).get(
            "/apps/acme-inc/config-vars", headers={"Authorization": authorization, "Accept": HEROKU}
        )
        assert refused.status_code == 401
        assert "a dashboard session is not an API token" in refused.json()["message"]
    # ...and an API token is no session.
    planted = browser(site)
    planted.cookies.set("empire_session", site.token)
    assert planted.get("/ui/apps").status_code == 303


def test_changes_and_sign_ins_from_another_site_are_refused(site: Stack) -> None:
    client, csrf = sign_in(site, "alice")
    scale = {"process": "web", "quantity": "3", "csrf": csrf}
    for headers in ({"Origin": "https://evil.test"}, {"Sec-Fetch-Site": "cross-site"}):
        assert (
            client.post("/ui/apps/acme-inc/scale", data=scale, headers=headers).status_code == 403
        )
    assert _web(site) == 1
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/ui/apps/acme-inc/scale", data=scale, headers=same).status_code == 303
    cross = browser(site).post(
        "/login",
        data={"username": "alice", "password": "alice-password"},
        headers={"Origin": "https://evil.test"},
    )
    assert cross.status_code == 403 and "set-cookie" not in cross.headers


def _basic(user: str, password: str) -> str:
    import base64

    return base64.b64encode(f"{user}:{password}".encode()).decode()
