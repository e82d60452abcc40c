"""empire.certs: PEM split for the routers, and verification before a certificate is attached
(issue 13 item 1: fake PEM blocks were accepted, and froze routing for every app)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from empire import certs
from empire.errors import Invalid, InvalidCertificate
from support.pki import NOW, authority, bundle, ec_key, ed25519_key, issue, rsa_key

FAKE = (
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
)


def refused(pem: str, match: str, *, now=NOW) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidCertificate, match=match) as caught:
        certs.verify(pem, now=now)
    assert isinstance(caught.value, Invalid)
    return caught.value.message


def test_a_real_chain_with_its_key_is_accepted_and_summarized() -> None:
    _, intermediate = authority()
    leaf = issue("www.acme.test", names=["www.acme.test", "*.api.acme.test"], issuer=intermediate)
    summary = certs.verify(leaf.cert_pem + intermediate.cert_pem + leaf.key_pem(), now=NOW)
    assert summary.names == ("www.acme.test", "*.api.acme.test")
    assert summary.chain_length == 2
    assert summary.not_after == leaf.cert.not_valid_after_utc
    assert summary.fingerprint == leaf.cert.fingerprint(hashes.SHA256()).hex()
    assert summary.uncovered(["www.acme.test", "v1.api.acme.test", "acme.test"]) == ("acme.test",)


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        pytest.param(rsa_key, "traditional", id="rsa-pkcs1"),
        pytest.param(rsa_key, "pkcs8", id="rsa-pkcs8"),
        pytest.param(lambda: ec_key(ec.SECP384R1()), "traditional", id="ec-sec1"),
        pytest.param(ec_key, "pkcs8", id="ec-pkcs8"),
        pytest.param(ed25519_key, "pkcs8", id="ed25519-pkcs8"),
    ],
)
def test_rsa_ec_and_ed25519_keys_in_pkcs1_pkcs8_and_sec1(key, fmt: str) -> None:  # type: ignore[no-untyped-def]
    leaf = issue("www.acme.test", names=["www.acme.test"], key=key())
    pem = leaf.cert_pem + leaf.key_pem(fmt)
    assert ("BEGIN PRIVATE KEY" in pem) is (fmt == "pkcs8")
    assert certs.verify(pem, now=NOW).names == ("www.acme.test",)


def test_syntactically_fake_pem_blocks_are_refused_without_echoing_the_key() -> None:
    message = refused(FAKE, "certificate 1 of the chain \\(the leaf\\) is not a valid X.509")
    assert "SECRETKEYMATERIAL" not in message
    leaf = issue("www.acme.test", names=["www.acme.test"])
    fake_key = "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n"
    message = refused(leaf.cert_pem + fake_key, "the private key is not a valid RSA, EC or Ed25519")
    assert "SECRETKEYMATERIAL" not in message


def test_a_chain_without_a_key_or_a_key_without_a_chain_is_refused() -> None:
    leaf = issue("www.acme.test", names=["www.acme.test"])
    refused(leaf.cert_pem, "needs a certificate chain and its private key")
    refused(leaf.key_pem(), "needs a certificate chain and its private key")
    refused(leaf.cert_pem + leaf.key_pem() + leaf.key_pem(), "holds 2 private keys")


def test_a_key_that_is_not_the_leafs_is_refused() -> None:
    leaf = issue("www.acme.test", names=["www.acme.test"])
    other = issue("other.test", names=["other.test"])
    refused(leaf.cert_pem + other.key_pem(), "does not belong to certificate 1 of the chain")


def test_the_chain_must_go_leaf_first_each_signed_by_the_next() -> None:
    root, intermediate = authority()
    leaf = issue("www.acme.test", names=["www.acme.test"], issuer=intermediate)
    assert (
        certs.verify(
            leaf.cert_pem + intermediate.cert_pem + root.cert_pem + leaf.key_pem(), now=NOW
        ).chain_length
        == 3
    )
    message = refused(
        leaf.cert_pem + root.cert_pem + leaf.key_pem(),
        "certificate 1 of the chain \\(the leaf\\) \\(CN=www.acme.test\\) is not signed by "
        "certificate 2 \\(CN=Test Root CA\\)",
    )
    assert "order the chain leaf first" in message
    # the key matches the leaf, but the intermediate came first
    refused(intermediate.cert_pem + leaf.cert_pem + leaf.key_pem(), "does not belong")


def test_expired_and_not_yet_valid_certificates_are_refused() -> None:
    expired = issue(
        "old.test",
        names=["old.test"],
        not_before=NOW - timedelta(days=90),
        not_after=NOW - timedelta(days=1),
    )
    refused(expired.cert_pem + expired.key_pem(), "expired on .* UTC: renew it")
    future = issue("new.test", names=["new.test"], not_before=NOW + timedelta(days=2))
    refused(future.cert_pem + future.key_pem(), "is not valid before .* UTC")
    # an expired intermediate spoils the chain too
    root = issue("Root", ca=True)
    old_ca = issue(
        "Old CA",
        issuer=root,
        ca=True,
        not_after=NOW - timedelta(days=1),
        not_before=NOW - timedelta(days=90),
    )
    leaf = issue("www.acme.test", names=["www.acme.test"], issuer=old_ca)
    refused(leaf.cert_pem + old_ca.cert_pem + leaf.key_pem(), "certificate 2 of the chain")


def test_weak_encrypted_and_unservable_keys_are_refused() -> None:
    weak = issue("weak.test", names=["weak.test"], key=rsa_key(1024))
    refused(weak.cert_pem + weak.key_pem(), "1024-bit RSA key")
    locked = issue("locked.test", names=["locked.test"])
    refused(locked.cert_pem + locked.key_pem("encrypted"), "the private key is encrypted")
    k1 = issue("k1.test", names=["k1.test"], key=ec_key(ec.SECP256K1()))
    refused(k1.cert_pem + k1.key_pem(), "curve secp256k1")


def test_names_are_the_sans_else_the_common_name() -> None:
    no_san = issue("legacy.acme.test", names=None)
    assert certs.verify(no_san.cert_pem + no_san.key_pem(), now=NOW).names == ("legacy.acme.test",)
    san = issue("Acme Inc", names=["www.acme.test"])
    assert certs.verify(san.cert_pem + san.key_pem(), now=NOW).names == ("www.acme.test",)


def test_oversized_text_and_long_chains_are_refused() -> None:
    refused(bundle("www.acme.test") + " " * certs.MAX_PEM, "more than 65536")
    leaf = issue("www.acme.test", names=["www.acme.test"])
    refused(leaf.cert_pem * (certs.MAX_CHAIN + 1) + leaf.key_pem(), "holds 11 certificates")


def test_split_gives_the_routers_the_chain_and_the_key() -> None:
    pem = bundle("www.acme.test")
    chain, key = certs.split(pem)  # type: ignore[misc]
    assert chain.count("BEGIN CERTIFICATE") == 2 and chain.endswith("-----END CERTIFICATE-----\n")
    assert key.startswith("-----BEGIN PRIVATE KEY-----") and key.endswith("-----\n")
    assert certs.split(pem.replace("\n", "\r\n")) is not None
    assert certs.split("acme-cert") is None
    assert certs.split(issue("x.test", names=["x.test"]).cert_pem) is None


@pytest.mark.parametrize(
    ("name", "hostname", "covered"),
    [
        ("www.acme.test", "www.acme.test", True),
        ("WWW.acme.test", "www.acme.test", True),
        ("*.acme.test", "www.acme.test", True),
        ("*.acme.test", "a.b.acme.test", False),  # one label only
        ("*.acme.test", "acme.test", False),
        ("*.acme.test", "*.acme.test", True),  # a wildcard domain, by the same wildcard
        ("www.acme.test", "*.acme.test", False),
        ("*.test", "*.acme.test", False),
    ],
)
def test_covers_as_tls_clients_match(name: str, hostname: str, covered: bool) -> None:
    assert certs.covers(name, hostname) is covered


def test_names_sort_most_specific_first() -> None:
    names = ["*.shop.test", "a.shop.test", "*.b.shop.test", "shop.test", "x.b.shop.test"]
    assert certs.by_specificity(names) == [
        "x.b.shop.test",
        "a.shop.test",
        "shop.test",
        "*.b.shop.test",
        "*.shop.test",
    ]


def test_what_the_router_could_not_load_is_named() -> None:
    issued = issue("shop.test", names=["shop.test"])
    cert, key = issued.cert_pem, issued.key_pem()
    fake = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert certs.unloadable(cert, key) is None
    assert certs.unloadable(fake, key) == "the certificate is not a PEM X.509 certificate"
    assert certs.unloadable(cert, fake) == "the private key is not an unencrypted PEM key"
