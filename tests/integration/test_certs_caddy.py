"""Issue 13 item 1 against a real Caddy: what `empire.certs.verify` accepts, Caddy loads and
serves (each key type and encoding, a chain with an intermediate), from `empire.certs.split`'s
pair; what it refuses, Caddy refuses too: the refusal at attach is what keeps one app's bad
certificate from freezing the router for every app."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from empire import certs
from empire.errors import InvalidCertificate
from support.pki import authority, ec_key, ed25519_key, issue, rsa_key
from support.services import CaddyServer, ServiceError, free_port
from support.waiting import wait_for

HOST = "www.acme.test"
FAKE = (
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
)


@pytest.fixture(scope="module")
def caddy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaddyServer]:
    server = CaddyServer(tmp_path_factory.mktemp("caddy"))
    server.start()
    yield server
    server.close()


def tls_config(chain: str, key: str, port: int) -> dict[str, Any]:
    """One TLS server answering "ok" for HOST with the given pair, as the routers load it."""
    return {
        "apps": {
            "http": {
                "servers": {
                    "tls": {
                        "listen": [f"127.0.0.1:{port}"],
                        "automatic_https": {"disable": True},
                        "tls_connection_policies": [{"match": {"sni": [HOST]}}],
                        "routes": [{"handle": [{"handler": "static_response", "body": "ok"}]}],
                    }
                }
            },
            "tls": {"certificates": {"load_pem": [{"certificate": chain, "key": key}]}},
        }
    }


def presented(port: int, root_pem: str) -> bytes:
    """The leaf Caddy presents for HOST, the chain checked against `root_pem`."""
    context = ssl.create_default_context(cadata=root_pem)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


@pytest.mark.parametrize(
    ("key", "fmt"),
    [
        pytest.param(rsa_key, "traditional", id="rsa-pkcs1"),
        pytest.param(rsa_key, "pkcs8", id="rsa-pkcs8"),
        pytest.param(ec_key, "traditional", id="ec-p256-sec1"),
        pytest.param(lambda: ec_key(ec.SECP384R1()), "pkcs8", id="ec-p384-pkcs8"),
        pytest.param(ed25519_key, "pkcs8", id="ed25519-pkcs8"),
    ],
)
def test_what_verify_accepts_caddy_loads_and_serves(
    caddy: CaddyServer, key: Callable[[], Any], fmt: str
) -> None:
    root, intermediate = authority()
    leaf = issue(HOST, names=[HOST], issuer=intermediate, key=key())
    pem = leaf.cert_pem + intermediate.cert_pem + leaf.key_pem(fmt)
    assert certs.verify(pem, now=datetime.now(UTC)).names == (HOST,)
    pair = certs.split(pem)
    assert pair is not None
    port = free_port()
    caddy.load(tls_config(*pair, port))
    der = wait_for(
        lambda: presented(port, root.cert_pem), what="Caddy serving TLS", ignore=(OSError,)
    )
    assert der == leaf.cert.public_bytes(Encoding.DER)


def test_what_verify_refuses_caddy_refuses_too(caddy: CaddyServer) -> None:
    leaf = issue(HOST, names=[HOST])
    other = issue("other.test", names=["other.test"])
    for pem in (FAKE, leaf.cert_pem + other.key_pem()):
        with pytest.raises(InvalidCertificate):
            certs.verify(pem, now=datetime.now(UTC))
        pair = certs.split(pem)
        assert pair is not None  # split alone does not check: verify at attach must
        with pytest.raises(ServiceError, match="load"):
            caddy.load(tls_config(*pair, free_port()))
