"""ImagePolicy: the operator's allow-list of repositories (issue 13 item 8) and no registry at a
local address (item 17)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from empire.errors import Forbidden, Invalid
from empire.images import ImageRef
from empire.images.policy import ImagePolicy, canonical, local_address

ALLOWED = ("registry.example.com/acme/*", "acme/*", "docker.io/library/redis")


def check(policy: ImagePolicy, image: str, resolve: dict[str, list[str]] | None = None) -> None:
    lookup = (lambda host: resolve.get(host, [])) if resolve is not None else None
    policy.check(ImageRef.parse(image), lookup)


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("redis", "docker.io/library/redis"),
        ("library/redis:7", "docker.io/library/redis"),
        ("docker.io/library/redis", "docker.io/library/redis"),
        ("index.docker.io/redis", "docker.io/library/redis"),
        ("registry-1.docker.io/acme/api", "docker.io/acme/api"),
        ("acme/api:v1", "docker.io/acme/api"),
        ("Registry.Example.com:5000/a/b/c@sha256:" + "0" * 64, "registry.example.com:5000/a/b/c"),
    ],
)
def test_a_repository_has_one_canonical_name(image: str, name: str) -> None:
    assert canonical(ImageRef.parse(image)) == name


def test_no_patterns_allow_any_repository() -> None:
    for image in ("redis", "evil/anything", "quay.io/x/y/z:1"):
        check(ImagePolicy(), image)


@pytest.mark.parametrize(
    "image",
    [
        "redis",
        "redis:7",
        "library/redis",
        "docker.io/library/redis@sha256:" + "a" * 64,
        "acme/api",
        "acme/api:v42",
        "index.docker.io/acme/worker",
        "registry.example.com/acme/api:v1",
    ],
)
def test_images_matching_a_pattern_are_allowed(image: str) -> None:
    check(ImagePolicy(allowed=ALLOWED), image)


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "evil/api",
        "acme/team/api",  # `*` is one path segment
        "acme",
        "registry.example.com/acme/team/api",
        "registry.example.com.evil.io/acme/api",
        "registry.example.com:5000/acme/api",
        "quay.io/acme/api",
        "sha256:" + "a" * 64,  # an image ID: repository `sha256` on Docker Hub
    ],
)
def test_other_images_are_forbidden_naming_the_patterns(image: str) -> None:
    with pytest.raises(Forbidden) as caught:
        check(ImagePolicy(allowed=ALLOWED), image)

    assert caught.value.message == (
        f"image {ImageRef.parse(image)} is not allowed here: this Empire deploys only images "
        "matching registry.example.com/acme/*, acme/*, docker.io/library/redis "
        "(EMPIRE_ALLOWED_IMAGES); push it to one of those repositories or ask the operator to "
        "allow it"
    )


@pytest.mark.parametrize(
    ("pattern", "allowed", "refused"),
    [
        (
            "registry.example.com/acme/**",
            "registry.example.com/acme/a/b/c",
            "registry.example.com/x",
        ),
        ("**", "quay.io/anything/at/all", None),
        ("*/acme/*", "quay.io/acme/api", "quay.io/other/api"),
        ("*.example.com/acme/*", "eu.example.com/acme/api", "example.org/acme/api"),
        ("Acme/API-*", "acme/api-web", "acme/web"),
        ("library/*", "busybox", "acme/busybox"),
    ],
)
def test_wildcards(pattern: str, allowed: str, refused: str | None) -> None:
    policy = ImagePolicy(allowed=(pattern,))
    check(policy, allowed)
    if refused is not None:
        with pytest.raises(Forbidden):
            check(policy, refused)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("acme/api:v1", "names a tag"),
        ("registry.example.com:5000/acme/api:v1", "names a tag"),
        ("acme/api@sha256:00", "is not a repository pattern"),
        ("a//b", "is not a repository pattern"),
        ("acme/", "is not a repository pattern"),
        ("https://registry.example.com/acme", "is not a repository pattern"),
        ("acme api", "is not a repository pattern"),
    ],
)
def test_a_bad_pattern_is_invalid(pattern: str, reason: str) -> None:
    with pytest.raises(Invalid, match=f"EMPIRE_ALLOWED_IMAGES: '.*' {reason}"):
        ImagePolicy(allowed=(pattern,))


def test_blank_patterns_are_dropped() -> None:
    assert ImagePolicy(allowed=(" acme/* ", "", " ")).allowed == ("acme/*",)


# -- local registries (item 17) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("127.0.0.1:2019/x", "is a loopback address"),
        ("127.3.4.5/x", "is a loopback address"),
        ("localhost:5000/x", "is this machine (localhost)"),
        ("LOCALHOST:5000/x", "is this machine (localhost)"),
        ("registry.localhost/x", "is this machine (localhost)"),
        ("[::1]:5000/x", "is a loopback address"),
        ("[::ffff:127.0.0.1]:5000/x", "is a loopback address"),
        ("169.254.169.254/latest", "is a link-local address"),
        ("[fe80::1]:5000/x", "is a link-local address"),
        ("0.0.0.0:5000/x", "is the unspecified address (this machine)"),
        ("2130706433:5000/x", "is an IP address in a short form: write it as a.b.c.d"),
        ("127.1:5000/x", "is an IP address in a short form: write it as a.b.c.d"),
    ],
)
def test_loopback_and_link_local_registries_are_refused(image: str, why: str) -> None:
    ref = ImageRef.parse(image)

    with pytest.raises(Forbidden) as caught:
        check(ImagePolicy(), image)

    assert caught.value.message == (
        f"image {ref} is refused: its registry {ref.registry} {why}, and Empire does not pull "
        "from loopback or link-local addresses unless the operator sets "
        "EMPIRE_ALLOW_LOCAL_REGISTRIES"
    )
    check(ImagePolicy(allow_local_registries=True), image)


@pytest.mark.parametrize(
    "image",
    ["10.0.0.1/x", "10.251.3.1:5000/x", "192.168.1.2:5000/x", "172.16.0.1/x", "[fd00::1]:5000/x"],
)
def test_private_registries_are_allowed(image: str) -> None:
    check(ImagePolicy(), image)


def test_a_name_resolving_to_a_local_address_is_refused_when_names_are_resolved() -> None:
    addresses: dict[str, list[str]] = {
        "rebind.example": ["203.0.113.9", "127.0.0.1"],
        "metadata.example": ["fe80::1%2"],
        "registry.example.com": ["203.0.113.10"],
    }

    with pytest.raises(Forbidden, match=r"resolves to 127\.0\.0\.1, which is a loopback address"):
        check(ImagePolicy(), "rebind.example:5000/x", addresses)
    with pytest.raises(Forbidden, match="resolves to fe80::1%2, which is a link-local address"):
        check(ImagePolicy(), "metadata.example/x", addresses)
    check(ImagePolicy(), "registry.example.com/x", addresses)
    check(ImagePolicy(), "unknown.example/x", addresses)  # the engine will say it is unknown
    check(ImagePolicy(allow_local_registries=True), "rebind.example:5000/x", addresses)


def test_docker_hub_is_never_resolved() -> None:
    asked: list[str] = []

    def lookup(host: str) -> Sequence[str]:
        asked.append(host)
        return ["127.0.0.1"]

    ImagePolicy().check(ImageRef.parse("acme/api"), lookup)
    assert asked == []
    assert local_address("registry.example.com", lookup) is not None
    assert asked == ["registry.example.com"]


def test_the_local_check_comes_before_the_allow_list() -> None:
    policy = ImagePolicy(allowed=("localhost:5000/**",))

    with pytest.raises(Forbidden, match="EMPIRE_ALLOW_LOCAL_REGISTRIES"):
        check(policy, "localhost:5000/acme/api")
    check(
        ImagePolicy(allowed=("localhost:5000/**",), allow_local_registries=True), "localhost:5000/a"
    )
