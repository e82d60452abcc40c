"""Transcripts: domains, domain-add, domain-remove, cert-attach, the removed ssl commands."""

from __future__ import annotations

import json
from pathlib import Path

from support.pki import bundle
from support.stack import Stack

from .conftest import Emp


def test_domains(acme: Emp, stack: Stack) -> None:
    assert acme("domains") == (0, "", "")
    assert acme("domain-add", "www.example.com") == (0, "", "Added www.example.com to acme.\n")
    assert acme("domain-add", "api.example.com", "-m", "api") == (
        0,
        "",
        "Added api.example.com to acme.\n",
    )
    assert acme("domains") == (0, "api.example.com\nwww.example.com\n", "")
    assert stack.empire.app("acme", by=stack.user).exposure.value == "public"
    hostnames = [d["hostname"] for d in json.loads(acme("domains", "--json").out)]
    assert hostnames == ["api.example.com", "www.example.com"]
    assert acme("domain-remove", "www.example.com") == (
        0,
        "",
        "Removed www.example.com from acme.\n",
    )
    assert acme("domain-remove", "api.example.com") == (
        0,
        "",
        "Removed api.example.com from acme.\n",
    )
    assert stack.empire.app("acme", by=stack.user).exposure.value == "private"


def test_domain_errors(acme: Emp) -> None:
    acme("domain-add", "www.example.com")
    assert acme("domain-add", "www.example.com") == (
        1,
        "",
        "error: www.example.com is already added to this app.\n",
    )
    acme("create", "other")
    assert acme("domain-add", "-a", "other", "www.example.com") == (
        1,
        "",
        "error: www.example.com is currently in use by another app.\n",
    )
    assert acme("domain-remove", "nope.example.com") == (
        1,
        "",
        "error: nope.example.com is not a domain of acme\n",
    )
    assert acme("domain-add") == (
        2,
        "",
        "Usage: emp domain-add [-a <app or remote>] [-m <message>] <domain>\n"
        "Use 'emp help domain-add' for more information.\n",
    )


def test_cert_attach_prints_nothing(acme: Emp, stack: Stack) -> None:
    assert acme("cert-attach", "acme-cert") == (0, "", "")
    assert acme("cert-attach", "--process", "api", "arn:aws:acm:us-east-1:1:certificate/x") == (
        0,
        "",
        "",
    )
    assert stack.empire.app("acme", by=stack.user).certs == {
        "web": "acme-cert",
        "api": "arn:aws:acm:us-east-1:1:certificate/x",
    }
    assert acme("info").out.endswith("Cert: acme-cert\n")


def test_cert_attach_sends_pem_files(acme: Emp, stack: Stack, tmp_path: Path) -> None:
    cert = tmp_path / "www.crt"
    key = tmp_path / "www.key"
    pem = bundle("www.acme.test")  # a leaf and its intermediate, then the key
    split = pem.index("-----BEGIN PRIVATE KEY-----")
    cert.write_text(pem[:split])
    key.write_text(pem[split:])
    assert acme("cert-attach", str(cert), str(key)) == (0, "", "")
    assert (
        stack.empire.app("acme", by=stack.user).certs["web"] == cert.read_text() + key.read_text()
    )
    assert acme("info").out.endswith("Cert: pem:" + acme("info").out.split("pem:")[1])
    assert acme("cert-attach", str(cert)) == (
        1,
        "",
        "error: the PEM text needs a certificate chain and its private key: "
        "emp cert-attach cert.pem key.pem\n",
    )
    assert acme("cert-attach", str(tmp_path / "nope.crt"), str(key))[0] == 1


def test_ssl_commands_are_gone(emp: Emp) -> None:
    for name in ("ssl", "ssl-destroy", "ssl-cert-rollback"):
        assert emp(name) == (
            1,
            "",
            "error: the ssl commands have been replaced with `cert-attach`\n",
        )
