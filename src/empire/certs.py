"""TLS certificates apps supply: PEM text split for the routers, and verified before it is kept.

An app's certificate is loaded into the proxy every public app shares: a certificate the proxy
refuses freezes routing for all of them. So a PEM certificate is parsed and checked at attach,
as a TLS server will use it: an X.509 chain, leaf first, each certificate signed by the next;
one private key (RSA, EC or Ed25519; PKCS#1, PKCS#8 or SEC1) matching the leaf; every
certificate valid now. Anything else is refused with a message saying what is wrong (never
showing the key).

All PEM parsing is here. The routers call `split` for the (chain, key) pair they load and
`unloadable` before they load it; `verify` returns a `Summary` of what was checked.
`cryptography`'s X.509 support is imported on first use: a server that never sees a
certificate does not load it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from empire.errors import InvalidCertificate

if TYPE_CHECKING:
    from cryptography import x509

BLOCK = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]+)-----\r?\n.*?\r?\n-----END (?P=kind)-----", re.DOTALL
)
MAX_PEM = 64 * 1024  # a chain of several 4096-bit RSA certificates and its key is under 16 KiB
MAX_CHAIN = 10
MIN_RSA_BITS = 2048  # what browsers accept
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")  # the curves Go's crypto/tls (Caddy) serves
USAGE = "emp cert-attach cert.pem key.pem"
NEEDS_BOTH = f"the PEM text needs a certificate chain and its private key: {USAGE}"


@dataclass(frozen=True, slots=True)
class Summary:
    """What `verify` found: the names the leaf certificate serves (its DNS subject alternative
    names, else its common name), when it is valid, its SHA-256 fingerprint (hex) and how many
    certificates the chain holds."""

    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint: str
    chain_length: int

    def covers(self, hostname: str) -> bool:
        """Whether a TLS client connecting to `hostname` accepts this certificate's names."""
        return any(covers(name, hostname) for name in self.names)

    def uncovered(self, hostnames: Iterable[str]) -> tuple[str, ...]:
        """The `hostnames` this certificate does not serve, in the order given."""
        return tuple(h for h in hostnames if not self.covers(h))


def is_pem(text: str) -> bool:
    """Whether a certificate is PEM text (else it is a name or an ARN, kept as it is)."""
    return "-----BEGIN" in text


def blocks(pem_text: str) -> list[tuple[str, str]]:
    """The PEM blocks in `pem_text`, in order: (kind, e.g. "CERTIFICATE", and the block)."""
    return [(m.group("kind"), m.group(0)) for m in BLOCK.finditer(pem_text)]


def split(pem_text: str) -> tuple[str, str] | None:
    """The chain (every CERTIFICATE block, in order) and the first private key, each as PEM
    text ending in a newline; None unless the text holds both. What the routers load."""
    found = blocks(pem_text)
    chain = [text for kind, text in found if kind == "CERTIFICATE"]
    keys = [text for kind, text in found if kind.endswith("PRIVATE KEY")]
    if not chain or not keys:
        return None
    return "\n".join(chain) + "\n", keys[0] + "\n"


def covers(name: str, hostname: str) -> bool:
    """Whether a certificate name covers `hostname` as TLS clients match (RFC 6125): equal
    (ignoring case), or a wildcard `*.example.com` standing for exactly one leftmost label. A
    wildcard hostname (a wildcard domain) is covered only by the same wildcard name."""
    name, hostname = name.lower().rstrip("."), hostname.lower().rstrip(".")
    if name == hostname:
        return True
    if not name.startswith("*.") or hostname.startswith("*."):
        return False
    first, dot, rest = hostname.partition(".")
    return bool(first and dot and rest == name[2:])


def specificity(hostname: str) -> tuple[int, int, str]:
    """A sort key putting the most specific names first: exact names before wildcards, then
    more labels before fewer, then by name. For choosing among certificates or routes that
    could all serve one name: the first that covers it wins."""
    wildcard = hostname.startswith("*.")
    return (1 if wildcard else 0, -hostname.count("."), hostname)


def by_specificity(hostnames: Iterable[str]) -> list[str]:
    """`hostnames`, most specific first (see `specificity`)."""
    return sorted(hostnames, key=specificity)


def verify(pem_text: str, *, now: datetime) -> Summary:
    """Parse a PEM certificate chain and its private key as a TLS server would, and check it:
    raise InvalidCertificate (an Invalid) naming what is wrong, else return its summary.

    Checked: the size; one or more CERTIFICATE blocks (leaf first, at most `MAX_CHAIN`), each a
    valid X.509 certificate, each signed by the next one; exactly one private key, unencrypted,
    RSA (at least 2048 bits), EC (P-256, P-384 or P-521) or Ed25519, whose public key is the
    leaf's; every certificate valid at `now`; the leaf names at least one host. Which of an
    app's domains it covers is the caller's question (`Summary.uncovered`).
    """
    if len(pem_text) > MAX_PEM:
        raise InvalidCertificate(
            f"the PEM text is {len(pem_text)} characters long, more than {MAX_PEM}: give only "
            f"the certificate chain and its private key ({USAGE})"
        )
    found = blocks(pem_text)
    chain_pem = [text for kind, text in found if kind == "CERTIFICATE"]
    keys_pem = [text for kind, text in found if kind.endswith("PRIVATE KEY")]
    if not chain_pem or not keys_pem:
        raise InvalidCertificate(NEEDS_BOTH)
    if len(keys_pem) > 1:
        raise InvalidCertificate(
            f"the PEM text holds {len(keys_pem)} private keys: give only the key of the leaf "
            f"certificate ({USAGE})"
        )
    if len(chain_pem) > MAX_CHAIN:
        raise InvalidCertificate(
            f"the chain holds {len(chain_pem)} certificates, more than {MAX_CHAIN}: give the "
            "leaf certificate and its intermediates only (not the root)"
        )
    chain = [_certificate(text, index) for index, text in enumerate(chain_pem, 1)]
    key = _private_key(keys_pem[0])
    _check_key_matches(key, chain[0])
    for index, (cert, issuer) in enumerate(pairwise(chain), 1):
        _check_signed(cert, issuer, index)
    for index, cert in enumerate(chain, 1):
        _check_valid_at(cert, index, now)
    leaf = chain[0]
    names = _names(leaf)
    if not names:
        raise InvalidCertificate(
            "the leaf certificate names no host (no DNS subject alternative name, no common "
            "name): issue it for the app's domains"
        )
    from cryptography.hazmat.primitives import hashes

    return Summary(
        names=names,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        chain_length=len(chain),
    )


def unloadable(cert_pem: str, key_pem: str) -> str | None:
    """Why a proxy could not load the pair at all (a PEM that is no certificate or no key), if
    it is so: the router's last check on what it is given, far less than `verify`."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError:
        return "the certificate is not a PEM X.509 certificate"
    try:
        load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return "the private key is not an unencrypted PEM key"
    return None


def _which(index: int) -> str:
    return f"certificate {index} of the chain" + (" (the leaf)" if index == 1 else "")


def _show(text: str, limit: int = 80) -> str:
    """Text from a certificate, safe to put in a message: printable, and short."""
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _subject(cert: x509.Certificate) -> str:
    try:
        return _show(cert.subject.rfc4514_string()) or "no subject"
    except ValueError:
        return "an unreadable subject"


def _certificate(text: str, index: int) -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        raise InvalidCertificate(
            f"{_which(index)} is not a valid X.509 certificate: give the PEM file your "
            "certificate authority issued (-----BEGIN CERTIFICATE----- ... END CERTIFICATE-----)"
        ) from None


def _private_key(text: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    # Never the key's text, nor the parser's message about it, in an error.
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except TypeError:
        raise InvalidCertificate(
            "the private key is encrypted: give it unencrypted "
            "(openssl pkey -in key.pem -out plain-key.pem)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidCertificate(
            "the private key is not a valid RSA, EC or Ed25519 key in PEM "
            "(PKCS#1, PKCS#8 or SEC1): give the key the certificate was issued for"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidCertificate(
                f"the private key is a {key.key_size}-bit RSA key, weaker than browsers accept: "
                f"issue the certificate for an RSA key of at least {MIN_RSA_BITS} bits"
            )
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_CURVES:
            raise InvalidCertificate(
                f"the private key is on the elliptic curve {key.curve.name}, which the router "
                "cannot serve: use P-256, P-384 or P-521"
            )
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InvalidCertificate(
            "the private key is neither RSA, EC nor Ed25519, which the router cannot serve: "
            "issue the certificate for an RSA, EC (P-256, P-384, P-521) or Ed25519 key"
        )
    return key


def _spki(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    data: bytes = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return data


def _check_key_matches(key: Any, leaf: x509.Certificate) -> None:
    try:
        leaf_key = leaf.public_key()
    except (ValueError, TypeError):
        raise InvalidCertificate(
            f"the public key of {_which(1)} ({_subject(leaf)}) cannot be read: issue the "
            "certificate for an RSA, EC or Ed25519 key"
        ) from None
    if _spki(key.public_key()) != _spki(leaf_key):
        raise InvalidCertificate(
            f"the private key does not belong to {_which(1)} ({_subject(leaf)}): put the "
            "certificate issued for this key first, or give the key it was issued for"
        )


def _check_signed(cert: x509.Certificate, issuer: x509.Certificate, index: int) -> None:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise InvalidCertificate(
            f"{_which(index)} ({_subject(cert)}) is not signed by certificate {index + 1} "
            f"({_subject(issuer)}): order the chain leaf first, each certificate followed by "
            "the one that issued it"
        ) from None


def _check_valid_at(cert: x509.Certificate, index: int, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise InvalidCertificate(
            f"{_which(index)} ({_subject(cert)}) is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC: attach it once it is valid"
        )
    if now > cert.not_valid_after_utc:
        raise InvalidCertificate(
            f"{_which(index)} ({_subject(cert)}) expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC: renew it"
        )


def _names(leaf: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError:
        raise InvalidCertificate(
            f"the extensions of {_which(1)} cannot be read: have the certificate reissued"
        ) from None
    if san is not None:
        names: Sequence[str] = san.get_values_for_type(x509.DNSName)
    else:
        names = [
            str(attribute.value)
            for attribute in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    # Names that are not printable ASCII match no domain, and are not echoed in messages.
    kept = (name.lower().rstrip(".") for name in names if name.isascii() and name.isprintable())
    return tuple(dict.fromkeys(name for name in kept if name))
