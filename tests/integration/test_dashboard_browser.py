"""The dashboard in a real headless Chromium (Debian's, driven by Playwright) against a real
`empire server` on the Docker engine with its router.

One deployer's path through the pages (sign in, deploy with live progress, scale, config,
roll back through the confirmation, logs streaming, sign out) and a viewer's (no values, no
controls), plus the refusals a stolen cookie meets. Screenshots of each page are kept in
`test-artifacts/dashboard/` (or $EMPIRE_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from support.server import EmpireServer, docker_env, remove_network
from support.services import REPO_ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = (
    Path(os.environ.get("EMPIRE_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "dashboard"
)
WEB = (
    b'web: sh -c "echo hello-from-$EMPIRE_RELEASE; echo $EMPIRE_RELEASE-$GREETING > '
    b'/www/index.html; exec httpd -f -p $PORT -h /www"\n'
)
TIMEOUT = 60_000  # ms: a deploy on a loaded machine
AXE = REPO_ROOT / ".cache" / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class Site:
    server: EmpireServer
    api: httpx.Client


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap (it installs chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Site]:
    network = f"empire-ui-{uuid.uuid4().hex[:8]}"
    server = EmpireServer(
        tmp_path / "empire",
        env=docker_env(
            network,
            f"127.0.0.1:{free_port()}",
            EMPIRE_RECONCILE_INTERVAL="2",
            EMPIRE_HEALTH_TIMEOUT="20",
            EMPIRE_DRAIN_SECONDS="0",
            EMPIRE_STOP_TIMEOUT="3",
            EMPIRE_METRICS_INTERVAL="1",
        ),
    )
    server.data_dir.mkdir(parents=True)
    token = server.empire(
        "users", "create", "alice", "--admin", "--password-stdin", input="alice-password\n"
    ).splitlines()[-1]
    server.empire("users", "create", "bob", "--password-stdin", input="bob-password\n")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    try:
        yield Site(server, api)
    finally:
        api.close()
        server.stop()
        remove_network(docker_client, network)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in_with_the_keyboard(page: Page, site: Site, name: str, *, go: bool = True) -> None:
    if go:
        page.goto(f"{site.server.url}/")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.get_by_role("heading", name="Apps")).to_have_count(0)
    page.get_by_label("User name").focus()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{name}-password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2 A/AA violations on the page (axe runs in the
    page: the contexts bypass the CSP for this script only, which the pages never load)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/bootstrap (it installs axe-core)")
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(
        """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"""
    )
    return found


def unlabelled_controls(page: Page) -> list[str]:
    """Inputs, selects and buttons a screen reader could not name."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.textContent || '').trim())
            .map(el => el.outerHTML)"""
    )
    return found


def test_a_deployer_deploys_scales_configures_rolls_back_and_reads_logs(
    site: Site, chromium: Browser, busybox_image
) -> None:
    v1 = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    v2 = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www /v2")
    app = "shop"
    assert site.api.post("/apps", json={"name": app}).status_code == 201
    context = chromium.new_context(bypass_csp=True)  # for axe-core's script only
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        page.goto(f"{site.server.url}/login")
        assert accessibility_problems(page) == []
        sign_in_with_the_keyboard(page, site, "alice")
        expect(page.get_by_role("heading", name="Apps")).to_be_visible()
        shot(page, "1-apps")
        assert accessibility_problems(page) == []
        page.get_by_role("link", name=app).click()
        expect(page.get_by_role("heading", name="Processes")).to_be_visible()

        for image, version in ((v1.tag, 1), (v2.tag, 2)):
            page.get_by_label("Image").fill(image)
            page.get_by_role("button", name="Deploy", exact=True).click()
            progress = page.locator("#deploy-progress")
            expect(progress).to_contain_text(f"Release v{version} of {app} succeeded")
            expect(progress).to_contain_text("Deploy finished.")
            page.wait_for_load_state()
            expect(page.locator("h1")).to_contain_text(f"v{version}")
        shot(page, "2-deployed")

        page.get_by_label("Scale web to").fill("2")
        page.get_by_role("button", name="Scale").click()
        expect(page.locator("#process-web .muted")).to_contain_text("2 wanted")

        page.get_by_label("Name", exact=True).fill("GREETING")
        page.get_by_label("Value").fill("<b>hi</b>")
        page.get_by_role("button", name="Set").click()
        expect(page.locator("#config td.value")).to_have_text("••••••")
        page.get_by_role("button", name="Reveal values").click()
        expect(page.locator("#config td.value")).to_have_text("<b>hi</b>")  # as text
        expect(page.locator("h1")).to_contain_text("v3")

        page.get_by_role("button", name="Roll back to v1").click()
        dialog = page.locator("dialog#confirm")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Roll shop back to v1?")
        shot(page, "3-confirm-rollback")
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("h1")).to_contain_text("v4")
        expect(page.locator("#h-releases + table tbody tr").first).to_contain_text("Rollback")

        # The charts are drawn from the engine's figures (read every second here).
        page.reload()
        expect(page.locator("#chart-memory polyline").first).to_be_attached()
        expect(page.locator("#chart-memory .summary")).to_contain_text(
            re.compile(r"web: [0-9.]+ [KMG]B")
        )
        expect(page.locator("#chart-cpu polyline").first).to_be_attached()

        logs = page.locator("#logs")
        expect(logs).to_contain_text("hello-from-v4")
        page.get_by_label("Source").select_option("api")
        expect(logs).not_to_contain_text("hello-from")
        page.get_by_label("Source").select_option("web")
        expect(logs).to_contain_text("hello-from-v4")
        shot(page, "4-app")
        assert unlabelled_controls(page) == []
        assert accessibility_problems(page) == []

        # A forged request (the cookie, no CSRF token) changes nothing.
        before = site.api.get(f"/apps/{app}/formation").json()
        status = page.evaluate(
            """async (app) => (await fetch(`/ui/apps/${app}/scale`, {method: 'POST',
                headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                body: 'process=web&quantity=0'})).status""",
            app,
        )
        assert status == 403
        assert site.api.get(f"/apps/{app}/formation").json() == before

        # The session ends while a form is being filled: signing in again brings it back.
        context.clear_cookies()
        page.get_by_label("Name", exact=True).fill("KEPT")
        page.get_by_label("Value").fill("kept-value")
        page.get_by_role("button", name="Set").click()
        expect(page).to_have_url(re.compile(r"/login\?next=/ui/apps/shop"))
        sign_in_with_the_keyboard(page, site, "alice", go=False)
        expect(page.get_by_label("Name", exact=True)).to_have_value("KEPT")
        expect(page.get_by_label("Value")).to_have_value("kept-value")

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("User name")).to_be_visible()
        page.goto(f"{site.server.url}/ui/apps/{app}")
        expect(page).to_have_url(re.compile(r"/login\?next=/ui/apps/shop"))
    finally:
        context.close()


def test_a_viewer_sees_neither_values_nor_controls(
    site: Site, chromium: Browser, busybox_image
) -> None:
    v1 = busybox_image(workdir="/app", procfile=WEB, run="mkdir -p /www")
    with site.api.stream("POST", "/deploys", json={"image": v1.tag}, timeout=120) as response:
        assert response.status_code == 200
        assert "succeeded" in response.read().decode().splitlines()[-1]
    app = v1.tag.split(":")[0]
    assert site.api.patch(f"/apps/{app}/config-vars", json={"TOKEN": "t0p-s3cret"}).is_success
    grant = site.api.post(f"/apps/{app}/collaborators", json={"user": "bob", "role": "viewer"})
    assert grant.is_success, grant.text
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    try:
        sign_in_with_the_keyboard(page, site, "bob")
        page.get_by_role("link", name=app).click()
        expect(page.locator("#config")).to_contain_text("TOKEN")
        html = page.content()
        assert "t0p-s3cret" not in html
        for name in ("Deploy", "Scale", "Roll back", "Reveal values", "Set", "Unset"):
            expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
        shot(page, "5-viewer")
    finally:
        context.close()
