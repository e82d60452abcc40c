"""Real certificates for tests: a root CA, an intermediate and leaves, made with `cryptography`.

Validity spans both the frozen test clock (support.stack.FROZEN) and today, so the same
certificate is valid for the service tier's frozen clock and for a real server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from support.stack import FROZEN

PEM = serialization.Encoding.PEM
NOW = datetime.now(UTC)
NOT_BEFORE = min(NOW, FROZEN) - timedelta(days=30)
NOT_AFTER = max(NOW, FROZEN) + timedelta(days=365)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, with their PEM texts."""

    cert: x509.Certificate
    key: Any

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(PEM).decode()

    def key_pem(self, fmt: str = "pkcs8") -> str:
        """The key as PEM: "pkcs8" (PRIVATE KEY), "traditional" (RSA/EC PRIVATE KEY, i.e.
        PKCS#1 or SEC1), or "encrypted" (ENCRYPTED PRIVATE KEY, password "pw")."""
        formats = {
            "pkcs8": serialization.PrivateFormat.PKCS8,
            "traditional": serialization.PrivateFormat.TraditionalOpenSSL,
            "encrypted": serialization.PrivateFormat.PKCS8,
        }
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(b"pw")
            if fmt == "encrypted"
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(PEM, formats[fmt], encryption).decode()


def rsa_key(bits: int = 2048) -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve: ec.EllipticCurve | None = None) -> Any:
    return ec.generate_private_key(curve or ec.SECP256R1())


def ed25519_key() -> Any:
    return ed25519.Ed25519PrivateKey.generate()


def issue(
    subject: str,
    *,
    names: Sequence[str] | None = None,
    issuer: Issued | None = None,
    key: Any = None,
    ca: bool = False,
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
) -> Issued:
    """A certificate for `subject` (its CN) with `names` (None: no SAN extension; an IP
    address is an IP entry, anything else a DNS name), signed by `issuer` (None: self-signed)."""
    key = key if key is not None else ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    signer = issuer.key if issuer else key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (0600), as the PEM
    files `cert.pem` and `key.pem` in `directory`: what a server's TLS settings name."""
    made = issue("empire test", names=["127.0.0.1", "localhost"], ca=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    cert.write_text(made.cert_pem)
    key.write_text(made.key_pem())
    key.chmod(0o600)
    return cert, key


def authority() -> tuple[Issued, Issued]:
    """A root CA and an intermediate it signed."""
    root = issue("Test Root CA", ca=True)
    intermediate = issue("Test Intermediate CA", issuer=root, ca=True)
    return root, intermediate


def bundle(*names: str, key_format: str = "pkcs8") -> str:
    """PEM text as `emp cert-attach cert.pem key.pem` sends it: a leaf for `names` signed by
    an intermediate, the intermediate, then the leaf's key."""
    _, intermediate = authority()
    leaf = issue(names[0], names=list(names), issuer=intermediate)
    return leaf.cert_pem + intermediate.cert_pem + leaf.key_pem(key_format)
