"""What a deployer may hand Empire, through the API (issue 13): Procfiles that would exhaust the
server (item 2), images outside the operator's allow-list (item 8) and registries at local
addresses (item 17). Each is refused with a Heroku error before anything is made or looked up,
and leaves the state as it was."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, IMAGE, error
from empire import procfile
from empire.images import ImageRef
from empire.images.policy import ImagePolicy
from support.stack import Stack

PATHS = ["/deploys", f"/apps/{APP}/deploys"]
NO_ALIAS = "anchors (&) and aliases (*) are not allowed in a Procfile, write each value out"


def laughs(depth: int) -> bytes:
    """Issue 13's attack, small: aliases under an unknown key, expanded through `ports`."""
    lines = ["web:", "  command: ./bin/web", "  x:", '    - &l0 ["lol", "lol", "lol"]']
    lines += [f"    - &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}]" for i in range(1, depth + 1)]
    lines.append(f"  ports: [*l{depth}]")
    return ("\n".join(lines) + "\n").encode()


# -- Procfiles (item 2) -----------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_a_procfile_with_aliases_is_refused_with_a_short_message(
    unchanged: TestClient, stack: Stack, path: str
) -> None:
    stack.images.add("remind101/acme-inc:laughs", procfile=laughs(4))

    body = error(
        unchanged.post(path, json={"image": "remind101/acme-inc:laughs"}),
        400,
        "bad_request",
        f"Procfile uses a YAML anchor (&l0) at line 4, column 7: {NO_ALIAS}",
    )
    assert "lol" not in body["message"]


def test_a_procfile_over_the_size_limit_is_refused(unchanged: TestClient, stack: Stack) -> None:
    content = b"web: ./bin/web\n" + b"# padding\n" * (procfile.MAX_BYTES // 10)
    stack.images.add("remind101/acme-inc:big", procfile=content)

    error(
        unchanged.post("/deploys", json={"image": "remind101/acme-inc:big"}),
        400,
        "bad_request",
        f"Procfile is {len(content)} bytes, over the limit of {procfile.MAX_BYTES} (64 KiB): "
        "a Procfile lists processes, move long scripts into the image",
    )


def test_a_bad_value_is_quoted_as_an_excerpt(unchanged: TestClient, stack: Stack) -> None:
    stack.images.add(
        "remind101/acme-inc:port",
        procfile=b"web: {command: x, ports: ['" + b"9" * 50_000 + b"']}\n",
    )

    body = error(
        unchanged.post("/deploys", json={"image": "remind101/acme-inc:port"}), 400, "bad_request"
    )

    assert body["message"].startswith(f'process "web": invalid port "{"9" * procfile.EXCERPT}..."')
    assert len(body["message"]) < 200


# -- the allow-list (item 8) ------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_an_image_outside_the_allowed_repositories_is_forbidden(
    unchanged: TestClient, stack: Stack, path: str
) -> None:
    stack.images.policy = ImagePolicy(allowed=("remind101/*", "registry.example.com/acme/**"))
    before = list(stack.images.resolved)

    error(
        unchanged.post(path, json={"image": "evil/acme-inc:v1"}),
        403,
        "forbidden",
        "image evil/acme-inc:v1 is not allowed here: this Empire deploys only images matching "
        "remind101/*, registry.example.com/acme/** (EMPIRE_ALLOWED_IMAGES); push it to one of "
        "those repositories or ask the operator to allow it",
    )
    assert stack.images.resolved == before  # refused before anything was looked up


def test_an_image_inside_the_allowed_repositories_deploys(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    stack.images.policy = ImagePolicy(allowed=("remind101/*", "registry.example.com/acme/**"))

    for image in (IMAGE, "registry.example.com/acme/team/acme-inc:v2"):
        response = client.post(f"/apps/{APP}/deploys", json={"image": image})
        assert response.status_code == 200, response.text
        assert "Release v" in response.text and "succeeded" in response.text


# -- local registries (item 17) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("127.0.0.1:2019/acme-inc", "is a loopback address"),
        ("localhost:5000/acme-inc:v1", "is this machine (localhost)"),
        ("[::1]:5000/acme-inc", "is a loopback address"),
        ("169.254.169.254/latest/acme-inc", "is a link-local address"),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_an_image_from_a_local_registry_is_forbidden(
    unchanged: TestClient, stack: Stack, image: str, why: str, path: str
) -> None:
    ref = ImageRef.parse(image)
    before = list(stack.images.resolved)

    error(
        unchanged.post(path, json={"image": image}),
        403,
        "forbidden",
        f"image {ref} is refused: its registry {ref.registry} {why}, and Empire does not pull "
        "from loopback or link-local addresses unless the operator sets "
        "EMPIRE_ALLOW_LOCAL_REGISTRIES",
    )
    assert stack.images.resolved == before


def test_local_registries_deploy_when_the_operator_allows_them(
    client: TestClient, stack: Stack, deployed: str
) -> None:
    stack.images.policy = ImagePolicy(allow_local_registries=True)

    response = client.post(f"/apps/{APP}/deploys", json={"image": "127.0.0.1:5000/acme-inc:v1"})

    assert response.status_code == 200, response.text
    assert "succeeded" in response.text


def test_a_private_registry_is_not_local(client: TestClient, deployed: str) -> None:
    response = client.post(f"/apps/{APP}/deploys", json={"image": "10.0.0.1:5000/acme-inc:v1"})

    assert response.status_code == 200, response.text
