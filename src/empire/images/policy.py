"""Which images may be deployed: the operator's allow-list, and no registry at a local address.

Every images backend checks a reference against its `ImagePolicy` before it looks the image up
or pulls it, so a refused image is never touched:

- `allowed`: patterns of repositories (EMPIRE_ALLOWED_IMAGES; none means any). A pattern is a
  repository name, optionally with a registry host: `acme/*` and `docker.io/library/redis` are
  on Docker Hub, `registry.example.com/acme/*` is on that registry. `*` matches within one path
  segment, `**` across segments (`registry.example.com/acme/**` takes nested repositories, `**`
  alone takes everything). Docker Hub is spelled one way: `redis`, `library/redis` and
  `docker.io/library/redis` are the same repository, in references and in patterns.
- `allow_local_registries` (EMPIRE_ALLOW_LOCAL_REGISTRIES, default off): a registry host that is
  loopback (`127.0.0.1`, `[::1]`, `localhost`), link-local (`169.254.169.254`, `fe80::`) or
  unspecified (`0.0.0.0`) would make the engine send requests to this machine's own services or
  to a cloud metadata endpoint, so it is refused unless the operator allows it. Private ranges
  (`10.0.0.1:5000`) are allowed: that is where in-house registries live. Backends that can
  resolve names (the Docker engine's) also refuse a host name that resolves to such an address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from empire.errors import Forbidden, Invalid
from empire.images import ImageRef

Resolver = Callable[[str], Sequence[str]]  # host name -> its addresses ([] when unknown)

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_PATTERN = re.compile(r"^[a-z0-9*][a-z0-9._\-/:*\[\]]*$")
# How resolvers read an IPv4 address they are given in an odd form (`127.1`, `2130706433`,
# `0x7f.1`): the last label is a number. No registry host name ends in one.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """What an operator lets users deploy. The default allows any image from any registry that
    is not at a local address."""

    allowed: tuple[str, ...] = ()
    allow_local_registries: bool = False
    _matchers: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = tuple(p.strip().lower() for p in self.allowed if p.strip())
        object.__setattr__(self, "allowed", patterns)
        object.__setattr__(self, "_matchers", tuple(_compile(p) for p in patterns))

    def check(self, ref: ImageRef, resolve: Resolver | None = None) -> None:
        """Raise Forbidden unless `ref` may be deployed. `resolve` looks up a registry host
        name's addresses; without it only literal addresses and `localhost` are recognized."""
        if not self.allow_local_registries and ref.registry is not None:
            why = local_address(ref.registry, resolve)
            if why is not None:
                raise Forbidden(
                    f"image {ref} is refused: its registry {ref.registry} {why}, and Empire does "
                    "not pull from loopback or link-local addresses unless the operator sets "
                    "EMPIRE_ALLOW_LOCAL_REGISTRIES"
                )
        if self._matchers and not any(m.fullmatch(canonical(ref)) for m in self._matchers):
            raise Forbidden(
                f"image {ref} is not allowed here: this Empire deploys only images matching "
                f"{', '.join(self.allowed)} (EMPIRE_ALLOWED_IMAGES); push it to one of those "
                "repositories or ask the operator to allow it"
            )


def canonical(ref: ImageRef) -> str:
    """The repository's one spelling: `registry/path`, Docker Hub as `docker.io/library/x`."""
    return _canonical(ref.registry, ref.repository)


def local_address(registry: str, resolve: Resolver | None = None) -> str | None:
    """Say why a registry (`host[:port]`) is at a local address, or None when it is not."""
    host = _host(registry)
    if host == "localhost" or host.endswith(".localhost"):
        return "is this machine (localhost)"
    address = _address(host)
    if address is not None:
        return _local_kind(address)
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        return "is an IP address in a short form: write it as a.b.c.d"
    for found in resolve(host) if resolve is not None else ():
        resolved = _address(found.partition("%")[0])
        kind = _local_kind(resolved) if resolved is not None else None
        if kind is not None:
            return f"resolves to {found}, which {kind}"
    return None


def _canonical(registry: str | None, repository: str) -> str:
    host = (registry or DOCKER_HUB).lower()
    if host in _DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return f"{host}/{repository}"


def _compile(pattern: str) -> re.Pattern[str]:
    """A pattern as a regular expression over canonical names."""
    if not _PATTERN.match(pattern) or "//" in pattern or pattern.endswith("/"):
        raise Invalid(
            f"EMPIRE_ALLOWED_IMAGES: {pattern!r} is not a repository pattern: use names such "
            "as acme/*, docker.io/library/redis or registry.example.com/acme/** "
            "(no tag or digest)"
        )
    first, _, rest = pattern.partition("/")
    has_host = rest and ("." in first or ":" in first or first == "localhost" or "*" in first)
    if ":" in (rest if has_host else pattern):
        raise Invalid(
            f"EMPIRE_ALLOWED_IMAGES: {pattern!r} names a tag: patterns name repositories, "
            "e.g. acme/api"
        )
    if has_host:
        text = pattern if "*" in first else _canonical(first, rest)
    elif pattern == "**":
        text = pattern
    else:
        text = _canonical(None, pattern)
    parts = re.split(r"(\*\*|\*)", text)
    wildcards = {"**": ".*", "*": "[^/]*"}
    return re.compile("".join(wildcards.get(part) or re.escape(part) for part in parts))


def _host(registry: str) -> str:
    """The host of `host[:port]` or `[v6]:port`, lowercase, without a trailing dot."""
    text = registry.lower()
    if text.startswith("["):
        host = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        host = text.partition(":")[0]
    else:
        host = text
    return host.rstrip(".")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _local_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_unspecified:
        return "is the unspecified address (this machine)"
    return None
