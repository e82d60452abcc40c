"""Issue 13: what one app supplies (certificates, domains) can never break or take another's.

Item 1: a certificate is verified at attach (422 saying what is wrong, never the key). Item 7:
names under another app's wildcard (and the reverse), IP literals, localhost, public-suffix
wildcards and internal names are refused. Item 14: a certificate's process key is validated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, HEROKU, error
from empire.model import Page
from support.pki import bundle, issue
from support.stack import FROZEN, Stack

FAKE = (
    "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
)


@pytest.fixture
def bob(stack: Stack) -> TestClient:
    """Another tenant: a user with no role on alice's apps."""
    _, token = stack.empire.create_user("bob", email="bob@example.com")
    client = stack.client(token)
    client.headers["Accept"] = HEROKU
    return client


def certs_of(stack: Stack, app: str = APP) -> dict[str, str]:
    return stack.empire.app(app, by=stack.user).certs


# -- item 1: certificates ---------------------------------------------------------------------


def test_fake_pem_blocks_are_refused_with_422_on_both_attach_paths(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    for response in (
        client.post(f"/apps/{APP}/certs", json={"cert": FAKE}),
        client.patch(f"/apps/{APP}", json={"cert": FAKE}),
    ):
        body = error(response, 422, "invalid_params")
        assert body["message"].startswith(
            "certificate 1 of the chain (the leaf) is not a valid X.509 certificate"
        )
        assert "SECRETKEYMATERIAL" not in response.text
    assert certs_of(stack) == {}
    manifest = stack.scheduler.manifests[stack.empire.app(APP, by=stack.user).id]
    assert manifest.certs == {}


def test_a_real_chain_is_attached_and_reaches_the_scheduler(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    assert (
        client.post(f"/apps/{APP}/domains", json={"hostname": "www.acme.test"}).status_code == 201
    )
    pem = bundle("www.acme.test", "api.acme.test")
    assert client.post(f"/apps/{APP}/certs", json={"cert": pem}).json() == {}
    shown = client.get(f"/apps/{APP}").json()
    assert shown["cert"].startswith("pem:") and "PRIVATE KEY" not in str(shown)
    app = stack.empire.app(APP, by=stack.user)
    assert stack.scheduler.manifests[app.id].certs == {"web": pem}
    [event, *_] = stack.empire.audit(APP, Page(field="created_at", descending=True), by=stack.user)
    assert event.text == f"alice attached a certificate to web on {APP}"
    assert event.data["names"] == ["www.acme.test", "api.acme.test"]
    assert event.data["uncovered"] == []
    assert "PRIVATE KEY" not in str(event.data)


def mismatched() -> str:
    leaf, other = (issue(n, names=[n]) for n in ("www.acme.test", "x.test"))
    return leaf.cert_pem + other.key_pem()


def expired() -> str:
    """Expired a day before the stack's (frozen) clock."""
    leaf = issue(
        "www.acme.test",
        names=["www.acme.test"],
        not_before=FROZEN - timedelta(days=400),
        not_after=FROZEN - timedelta(days=1),
    )
    return leaf.cert_pem + leaf.key_pem()


def chain_only() -> str:
    return issue("www.acme.test", names=["www.acme.test"]).cert_pem


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            mismatched,
            "the private key does not belong to certificate 1 of the chain (the leaf) "
            "(CN=www.acme.test): put the certificate issued for this key first, or give the "
            "key it was issued for",
        ),
        (expired, "(CN=www.acme.test) expired on "),
        (
            chain_only,
            "the PEM text needs a certificate chain and its private key: "
            "emp cert-attach cert.pem key.pem",
        ),
    ],
    ids=["key-of-another-certificate", "expired", "no-key"],
)
def test_a_bad_certificate_is_refused_saying_what_is_wrong(
    client: TestClient, stack: Stack, deployed: str, make: Callable[[], str], message: str
) -> None:
    body = error(client.post(f"/apps/{APP}/certs", json={"cert": make()}), 422, "invalid_params")
    assert message in body["message"]
    assert "BEGIN" not in body["message"]
    assert certs_of(stack) == {}


def test_a_certificate_must_cover_one_of_the_apps_domains(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    for host in ("www.acme.test", "api.acme.test"):
        assert client.post(f"/apps/{APP}/domains", json={"hostname": host}).status_code == 201
    body = error(
        client.post(f"/apps/{APP}/certs", json={"cert": bundle("www.other.test")}),
        422,
        "invalid_params",
    )
    assert body["message"] == (
        f"the certificate is for www.other.test, which covers none of {APP}'s domains "
        "(api.acme.test, www.acme.test): attach a certificate issued for them"
    )
    # covering some is allowed; the audit trail names the others
    assert (
        client.post(f"/apps/{APP}/certs", json={"cert": bundle("www.acme.test")}).status_code == 200
    )
    [event, *_] = stack.empire.audit(APP, Page(field="created_at", descending=True), by=stack.user)
    assert (
        event.text == f"alice attached a certificate to web on {APP} (not covering api.acme.test)"
    )
    assert event.data["uncovered"] == ["api.acme.test"]


def test_names_and_arns_are_still_attached_as_they_are(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    arn = "arn:aws:acm:us-east-1:1:certificate/x"
    assert client.post(f"/apps/{APP}/certs", json={"cert": arn}).status_code == 200
    assert certs_of(stack) == {"web": arn}
    error(client.post(f"/apps/{APP}/certs", json={"cert": "acme\x1b[2J"}), 400, "bad_request")


# -- item 14: the certificate's process key ---------------------------------------------------


@pytest.mark.parametrize("process", ["web\x1b[2J", "x" * 500_000, "", "../web"])
def test_the_process_key_must_be_a_process_type_name(
    client: TestClient, stack: Stack, deployed: str, process: str
) -> None:
    response = client.post(f"/apps/{APP}/certs", json={"cert": "acme-cert", "process": process})
    if process == "":  # an empty process means the default, web
        assert response.status_code == 200 and certs_of(stack) == {"web": "acme-cert"}
        return
    body = error(response, 400, "bad_request")
    assert body["message"].startswith("invalid process type")
    assert "\x1b" not in response.text and len(response.text) < 1000
    assert certs_of(stack) == {}


# -- item 7: domains --------------------------------------------------------------------------


def test_a_name_under_another_apps_wildcard_is_refused_and_the_reverse(
    client: TestClient, bob: TestClient
) -> None:
    assert client.post("/apps", json={"name": "shop"}).status_code == 201
    assert bob.post("/apps", json={"name": "bobs"}).status_code == 201
    assert client.post("/apps/shop/domains", json={"hostname": "*.shop.test"}).status_code == 201
    for host, under in (
        ("evil.shop.test", "*.shop.test"),
        ("a.b.shop.test", "*.shop.test"),
        ("*.b.shop.test", "*.shop.test"),
    ):
        body = error(bob.post("/apps/bobs/domains", json={"hostname": host}), 409, "conflict")
        assert body["message"].startswith(
            f"{host} is under {under}, a wildcard domain of another app"
        )
    # the apex is not under its wildcard; the owner may add names under its own wildcard
    assert bob.post("/apps/bobs/domains", json={"hostname": "shop.test"}).status_code == 201
    assert client.post("/apps/shop/domains", json={"hostname": "a.shop.test"}).status_code == 201

    assert bob.post("/apps/bobs/domains", json={"hostname": "www.bob.test"}).status_code == 201
    body = error(
        client.post("/apps/shop/domains", json={"hostname": "*.bob.test"}), 409, "conflict"
    )
    assert body["message"].startswith("*.bob.test would cover www.bob.test, of another app")
    assert [d["hostname"] for d in bob.get("/apps/bobs/domains").json()] == [
        "shop.test",
        "www.bob.test",
    ]


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        ("*.com", "a wildcard needs at least two labels"),
        ("*.co.uk", "public suffix co.uk"),
        ("localhost", "names this machine"),
        ("*.localhost", "names this machine"),
        ("127.0.0.1", "is an IP address"),
        ("169.254.169.254", "is an IP address"),
        ("0", "is an IP address"),
        ("2130706433", "is an IP address"),
        ("0x7f.1", "is an IP address"),
        ("::1", "is an IP address"),
        ("acme-inc", "is a single label"),
    ],
)
def test_hostnames_no_app_may_take_are_refused(
    client: TestClient, deployed: str, hostname: str, reason: str
) -> None:
    body = error(
        client.post(f"/apps/{APP}/domains", json={"hostname": hostname}), 400, "bad_request"
    )
    assert reason in body["message"]
    assert client.get(f"/apps/{APP}/domains").json() == []


def test_another_apps_internal_name_is_refused(
    client: TestClient, bob: TestClient, deployed: str
) -> None:
    assert bob.post("/apps", json={"name": "bobs"}).status_code == 201
    body = error(bob.post("/apps/bobs/domains", json={"hostname": f"web.{APP}"}), 409, "conflict")
    assert body["message"] == (
        f"web.{APP} is an internal name on this platform (process web of app {APP}, reached "
        f"as http://web.{APP}): use a public DNS name such as www.example.com"
    )
    # a two-label name whose last label is no app is an ordinary domain
    assert bob.post("/apps/bobs/domains", json={"hostname": "bobs.example"}).status_code == 201
