"""The Docker images backend's parts that need no engine: registry credentials from a
`config.json`, digests however Docker Hub is spelled, an engine that does not answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import docker
import pytest

from empire.errors import RegistryError
from empire.images import ImageRef, ResolvedImage
from empire.images.docker import DockerImages, identity_of


def test_an_unreachable_engine_is_a_registry_error(tmp_path: Path) -> None:
    client = docker.DockerClient(base_url=f"unix://{tmp_path}/docker.sock", version="1.41")
    images = DockerImages(client)

    with pytest.raises(RegistryError, match="cannot reach the Docker engine"):
        images.resolve(ImageRef.parse("empire-test-api:v1"))


@pytest.mark.parametrize(
    ("key", "repository"),
    [
        ("https://index.docker.io/v1/", "remind101/acme-inc"),
        ("docker.io", "busybox"),
        ("quay.io", "quay.io/acme/api"),
        ("https://registry.example.com/v2/", "registry.example.com/acme/api"),
        ("localhost:5000", "localhost:5000/api"),
    ],
)
def test_credentials_are_matched_by_registry_host(
    tmp_path: Path, key: str, repository: str
) -> None:
    config = tmp_path / "config.json"
    auths = {key: {"auth": base64.b64encode(b"u:p:w").decode()}, "other.io": {"auth": "eDp5"}}
    config.write_text(json.dumps({"auths": auths}))
    client = docker.DockerClient(base_url=f"unix://{tmp_path}/none.sock", version="1.41")

    credentials = DockerImages(client, auth_config_path=str(config))._credentials(repository)

    assert credentials == {"username": "u", "password": "p:w"}


def test_docker_hub_digests_match_however_the_repository_is_spelled() -> None:
    digest = "sha256:" + "ab" * 32
    attrs = {"Id": "sha256:" + "cd" * 32, "RepoDigests": [f"other@{digest}", f"busybox@{digest}"]}

    for text in ("busybox", "library/busybox", "docker.io/library/busybox"):
        resolved = identity_of(ImageRef.parse(text), attrs)
        assert resolved == ResolvedImage(identity=f"busybox@{digest}", has_digest=True)
    assert identity_of(ImageRef.parse("acme/api"), attrs).has_digest is False
