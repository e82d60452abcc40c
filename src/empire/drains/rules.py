"""What a log drain is, and which URLs may be one (pure: no I/O, used by the core).

A drain URL is `syslog://host:port` (RFC 5424 over TCP), `syslog+tls://host:port` (the same
over TLS) or `https://[user:password@]host[:port]/path` (logplex batches POSTed). Refused:
any other scheme (plain `http://` sends the logs in clear), no host or no port for syslog,
credentials in a syslog URL (syslog has no place for them: they would only travel in clear
and be shown to whoever lists the drains), a host that is neither a DNS name nor an IP
address in its usual form (`2130706433`, `0x7f.1` and `127.1` are refused: they are
tricks to hide an address), loopback and link-local addresses (this machine, the cloud's
metadata service) unless the operator allows them, and Empire's own API.

Private addresses (`10.0.0.5`, `syslog.internal`) are allowed: a drain to a syslog host
inside the network is the common case, and a user who may add a drain (a deployer) can
already run any code inside the network (`emp run`). The same address rules are checked
again on every connection, on the addresses the name resolves to then.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

from empire.errors import Invalid

SCHEMES = ("syslog", "syslog+tls", "https")
MAX_PER_APP = 5  # drains one app may have (as Heroku)
MAX_URL = 2048
_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)
_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DOTTED = re.compile(
    r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Drain:
    """One log drain of one app. `token` (`d.<uuid>`) is sent with each HTTPS batch
    (`Logplex-Drain-Token`) and identifies the drain in the syslog frames' hostname field."""

    id: str
    app_id: str
    url: str
    token: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Target:
    """Where a drain sends: its scheme, host (lowercase; an IPv6 address without brackets)
    and port."""

    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme != "syslog"


@dataclass(frozen=True, slots=True)
class DrainPolicy:
    """What the operator allows: `allow_local` lets drains reach loopback and link-local
    addresses (tests, a syslog daemon on the Empire host); `own` are the (host, port) pairs
    Empire's API answers on, which a drain may never point at."""

    allow_local: bool = False
    own: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    def check(self, url: str) -> Target:
        """Return the drain URL's target; raise Invalid saying what is wrong with it."""
        target = parse(url)
        if not self.allow_local:
            why = local_address(target.host)
            if why is not None:
                raise Invalid(
                    f"the drain's host {target.host} {why}: drains may not reach this machine "
                    "or the cloud's metadata service (the operator can allow it with "
                    "EMPIRE_DRAINS_ALLOW_LOCAL)"
                )
        if (target.host, target.port) in self.own or (
            ("*", target.port) in self.own and local_address(target.host) is not None
        ):
            raise Invalid(
                f"{target.host}:{target.port} is Empire's own API: a drain must point at a log "
                "service (syslog or HTTPS), not at Empire"
            )
        return target


def parse(url: str) -> Target:
    """Check the URL's shape (see the module) and return its target."""
    if not url or len(url) > MAX_URL:
        raise Invalid(f"a drain URL must have 1 to {MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise Invalid("a drain URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"invalid drain URL {_show(url)}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        hint = " (logs would travel in clear: use https://)" if scheme == "http" else ""
        raise Invalid(
            f"unknown drain scheme {scheme + '://' if scheme else 'in ' + _show(url)}{hint}: "
            "use syslog://host:port, syslog+tls://host:port or https://host/path"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise Invalid(
            f"the drain URL {_show(url)} has no host: e.g. {scheme}://logs.example.com:6514"
        )
    _check_host(host)
    if scheme == "https":
        return Target(scheme, host, port or 443)
    _check_syslog(scheme, parts, url)
    assert port is not None
    return Target(scheme, host, port)


def _check_syslog(scheme: str, parts: SplitResult, url: str) -> None:
    if parts.username is not None or parts.password is not None:
        clear = " in clear" if scheme == "syslog" else ""
        raise Invalid(
            f"a {scheme}:// drain cannot carry credentials: syslog has no place for them, so "
            f"they would only travel{clear} and be shown to whoever lists the drains (use an "
            "https:// drain for a service that needs them)"
        )
    if parts.port is None or parts.port == 0:
        raise Invalid(f"a {scheme}:// drain needs a port: {scheme}://{parts.hostname}:6514")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise Invalid(f"a {scheme}:// drain is a host and a port, without a path or query")


def _check_host(host: str) -> None:
    """A DNS name, a dotted IPv4 address or an IPv6 address; nothing else resolvers accept."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise Invalid(f"invalid IPv6 address {_show(host)} in the drain URL") from exc
        return
    if _DOTTED.match(host):
        return
    labels = host.split(".")
    if not _HOST.match(host) or _NUMERIC.match(labels[-1]):
        raise Invalid(
            f"invalid drain host {_show(host)}: use a DNS name (logs.example.com) or an IP "
            "address in its usual form (10.0.0.5, [fd00::5])"
        )


def local_address(host: str) -> str | None:
    """Why `host` (a name or an address) is this machine or link-local; None when it is not
    (as far as the text tells: names are checked again once resolved)."""
    if host == "localhost" or host.endswith(".localhost"):
        return "names this machine (localhost)"
    try:
        address: Address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address_kind(address)


def address_kind(address: Address) -> str | None:
    """Why a drain may not connect to `address`; None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_unspecified:
        return "is the unspecified address (this machine)"
    if address.is_multicast or address == ipaddress.IPv4Address("255.255.255.255"):
        return "is a multicast or broadcast address"
    return None


def same_drain(url: str, others: Collection[str]) -> bool:
    """Whether `url` is one of `others`, ignoring the case of scheme and host."""
    key = _key(url)
    return any(_key(other) == key for other in others)


def _key(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1].lower()
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return f"{parts.scheme.lower()}://{auth}{host}{parts.path or ''}?{parts.query}"


def _show(text: str) -> str:
    return repr(text[:80] + ("..." if len(text) > 80 else ""))
