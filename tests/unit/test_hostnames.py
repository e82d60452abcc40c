"""Hostname rules (issue 13 item 7): names no app may route, and the wildcards a name is under;
the process key of a certificate (item 14)."""

from __future__ import annotations

import pytest

from empire import formation
from empire.errors import Invalid


@pytest.mark.parametrize(
    "hostname",
    ["www.example.com", "example.com", "*.shop.test", "*.example.co.uk", "a-b.c0.example.io"],
)
def test_public_names_and_wildcards_under_a_registrable_domain_are_accepted(
    hostname: str,
) -> None:
    formation.check_hostname(hostname)


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        ("127.0.0.1", "is an IP address"),
        ("169.254.169.254", "is an IP address"),
        ("0", "is an IP address"),
        ("2130706433", "is an IP address"),
        ("0x7f.1", "is an IP address"),
        ("0177.0.0.1", "is an IP address"),
        ("127.1", "is an IP address"),
        ("::1", "is an IP address"),
        ("[::1]", "is an IP address"),
        ("fe80::1", "is an IP address"),
        ("localhost", "names this machine"),
        ("api.localhost", "names this machine"),
        ("*.localhost", "names this machine"),
        ("acme-inc", "is a single label"),
        ("*.com", "a wildcard needs at least two labels"),
        ("*.co.uk", "public suffix co.uk"),
        ("*.github.io", "public suffix github.io"),
        ("*.*.example.com", "invalid hostname"),
        ("www.*.example.com", "invalid hostname"),
        ("example.com\n", "invalid hostname"),
        ("exa\x1bmple.com", "invalid hostname"),
    ],
)
def test_ip_literals_localhost_single_labels_and_public_suffix_wildcards_are_refused(
    hostname: str, reason: str
) -> None:
    with pytest.raises(Invalid, match=reason) as caught:
        formation.check_hostname(hostname)
    assert "\x1b" not in caught.value.message and "\n" not in caught.value.message


def test_the_wildcards_a_name_is_under_at_any_depth() -> None:
    assert formation.covering_wildcards("a.b.shop.test") == [
        "*.b.shop.test",
        "*.shop.test",
        "*.test",
    ]
    assert formation.covering_wildcards("*.b.shop.test") == ["*.shop.test", "*.test"]
    assert formation.covering_wildcards("shop.test") == ["*.test"]


def test_internal_names_have_the_form_process_dot_app() -> None:
    assert formation.internal_app("web.acme-inc") == "acme-inc"
    assert formation.internal_app("www.acme-inc.com") is None
    assert formation.internal_app("*.acme-inc") is None


@pytest.mark.parametrize("name", ["web", "worker_2", "api-v1", "0", "a" * 63])
def test_certificate_process_keys_are_process_type_names(name: str) -> None:
    formation.check_process_name(name)


@pytest.mark.parametrize("name", ["", "-web", "web\x1b[2J", "web\n", "a" * 64, "x" * 500_000])
def test_other_process_keys_are_refused_without_echoing_them_whole(name: str) -> None:
    with pytest.raises(Invalid, match="invalid process type") as caught:
        formation.check_process_name(name)
    assert "\x1b" not in caught.value.message and len(caught.value.message) < 300


def test_certificate_names_are_printable_and_bounded() -> None:
    formation.check_certificate("arn:aws:acm:us-east-1:123456789012:certificate/abc")
    for bad in ("acme\x1b[2J", "x" * 5000, "  "):
        with pytest.raises(Invalid):
            formation.check_certificate(bad)
