"""DockerImages against the real local Docker engine and a local docker-registry."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from empire import procfile as procfiles
from empire.errors import ImageNotFound, InvalidProcfile, RegistryError
from empire.images import ImageRef, JsonMessage, ResolvedImage
from empire.images.docker import DockerImages, _identity
from support.services import free_port

BuildImage = Callable[..., Any]  # the busybox_image fixture (see conftest)
PushImage = Callable[..., str]  # the push_image fixture
Registry = Any  # what the local_registry and auth_registry fixtures yield

PROCFILE = b"web: ./bin/web --port 80\nworker: ./bin/worker\n"


@pytest.fixture
def images(docker_client: docker.DockerClient) -> DockerImages:
    return DockerImages(docker_client)


def unique() -> str:
    return f"empire-test-{uuid.uuid4().hex[:8]}"


def _probe_containers(client: docker.DockerClient) -> list[str]:
    found = client.api.containers(all=True, filters={"label": "io.empire.procfile-probe"})
    return [c["Id"] for c in found]


def test_reads_the_procfile_from_a_custom_workdir(
    images: DockerImages, busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(workdir="/srv/acme", procfile=PROCFILE, cmd=["./bin/web"])
    resolved = images.resolve(ImageRef.parse(image.tag))

    source = images.procfile(resolved.identity)

    assert source.content == PROCFILE
    assert source.path == "/srv/acme/Procfile"
    assert source.cmd is None
    assert list(procfiles.parse(source.content)) == ["web", "worker"]
    assert _probe_containers(docker_client) == []


def test_reads_the_procfile_from_root_when_the_image_has_no_workdir(
    images: DockerImages, busybox_image: BuildImage
) -> None:
    image = busybox_image(procfile=PROCFILE)

    source = images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)

    assert (source.path, source.content) == ("/Procfile", PROCFILE)


def test_follows_a_symlinked_procfile(images: DockerImages, busybox_image: BuildImage) -> None:
    image = busybox_image(
        workdir="/app",
        run="mkdir -p /etc/acme && echo 'web: ./linked' > /etc/acme/Procfile "
        "&& ln -s ../etc/acme/Procfile /app/Procfile",
    )

    source = images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)

    assert source.content == b"web: ./linked\n"
    assert source.path == "/app/Procfile"  # the path the user knows, not the link's target


def test_a_procfile_directory_is_invalid(images: DockerImages, busybox_image: BuildImage) -> None:
    image = busybox_image(workdir="/app", run="mkdir /app/Procfile")

    with pytest.raises(InvalidProcfile, match="is a directory"):
        images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)


def test_falls_back_to_the_image_cmd(
    images: DockerImages, busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(workdir="/app", cmd=["httpd", "-f", "-p", "80"])

    source = images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)

    assert source.path is None
    assert source.cmd == ("httpd", "-f", "-p", "80")
    assert procfiles.parse(source.content)["web"].command == ("httpd", "-f", "-p", "80")
    assert _probe_containers(docker_client) == []


def test_the_fallback_command_is_the_cmd_the_entrypoint_stays(
    images: DockerImages, busybox_image: BuildImage
) -> None:
    image = busybox_image(entrypoint=["/bin/sh", "-c"], cmd=["httpd -f -p 80"])

    source = images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)

    assert source.cmd == ("httpd -f -p 80",)


def test_no_procfile_and_no_cmd_is_invalid(
    images: DockerImages, busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(workdir="/app")
    identity = images.resolve(ImageRef.parse(image.tag)).identity

    with pytest.raises(InvalidProcfile, match=r"no Procfile in its WORKDIR \(/app\) and no CMD"):
        images.procfile(identity)
    assert _probe_containers(docker_client) == []


def test_a_local_only_image_is_used_without_pulling_and_identified_by_id(
    images: DockerImages, busybox_image: BuildImage
) -> None:
    image = busybox_image(procfile=PROCFILE)
    progress: list[JsonMessage] = []

    resolved = images.resolve(ImageRef.parse(image.tag), progress.append)

    assert progress == []
    assert resolved.identity == image.id
    assert resolved.identity.startswith("sha256:")
    assert resolved.has_digest is False
    assert images.procfile(resolved.identity).content == PROCFILE


def test_a_tag_defaults_to_latest(
    images: DockerImages, busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(procfile=PROCFILE)
    repository = image.tag.partition(":")[0]
    docker_client.images.get(image.id).tag(repository, "latest")

    try:
        resolved = images.resolve(ImageRef.parse(repository))
    finally:
        docker_client.images.remove(f"{repository}:latest")

    assert resolved.identity == image.id


def test_pulls_a_missing_image_and_identifies_it_by_digest(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
) -> None:
    image = busybox_image(workdir="/app", procfile=PROCFILE)
    repository = f"acme/{unique()}"
    ref = push_image(image.tag, local_registry, repository, "v42")
    docker_client.images.remove(ref)
    docker_client.images.remove(image.tag)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image.id)  # really gone: resolve must pull
    progress: list[JsonMessage] = []

    resolved = images.resolve(ImageRef.parse(ref), progress.append)

    assert resolved.has_digest is True
    assert resolved.identity.startswith(f"{local_registry.address}/{repository}@sha256:")
    assert any(str(m.get("status", "")).startswith("Pulling from") for m in progress), progress
    assert all(isinstance(m, dict) for m in progress)
    assert images.procfile(resolved.identity).content == PROCFILE

    again: list[JsonMessage] = []
    assert images.resolve(ImageRef.parse(ref), again.append) == resolved
    assert images.resolve(ImageRef.parse(resolved.identity), again.append) == resolved
    assert again == []  # present now: no second pull


def test_procfile_pulls_a_digest_that_was_removed_since_resolve(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
) -> None:
    image = busybox_image(workdir="/app", procfile=PROCFILE)
    ref = push_image(image.tag, local_registry, f"acme/{unique()}", "v1")
    identity = images.resolve(ImageRef.parse(ref)).identity
    docker_client.images.remove(ref, force=True)
    docker_client.images.remove(image.tag, force=True)

    assert images.procfile(identity).content == PROCFILE


def test_a_missing_repository_is_image_not_found(
    images: DockerImages, local_registry: Registry
) -> None:
    ref = ImageRef.parse(f"{local_registry.address}/acme/{unique()}:v1")

    with pytest.raises(ImageNotFound, match=f"image {ref} not found: .*Check the name and tag"):
        images.resolve(ref)


def test_a_missing_tag_is_image_not_found(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
) -> None:
    image = busybox_image(procfile=PROCFILE)
    ref = push_image(image.tag, local_registry, f"acme/{unique()}", "v1")

    with pytest.raises(ImageNotFound, match="not found"):
        images.resolve(ImageRef.parse(ref.replace(":v1", ":v2")))


def test_a_missing_local_image_identity_is_image_not_found(images: DockerImages) -> None:
    with pytest.raises(ImageNotFound):
        images.procfile("sha256:" + "0" * 64)


def test_an_unreachable_registry_is_a_registry_error(images: DockerImages) -> None:
    ref = ImageRef.parse(f"127.0.0.1:{free_port()}/{unique()}:v1")

    with pytest.raises(RegistryError, match="connection refused") as caught:
        images.resolve(ref)
    assert not isinstance(caught.value, ImageNotFound)


def test_an_unreachable_engine_is_a_registry_error(tmp_path: Path) -> None:
    client = docker.DockerClient(base_url=f"unix://{tmp_path}/docker.sock", version="1.41")
    images = DockerImages(client)

    with pytest.raises(RegistryError, match="cannot reach the Docker engine"):
        images.resolve(ImageRef.parse("empire-test-api:v1"))


def test_pulls_from_a_private_registry_with_config_json_credentials(
    busybox_image: BuildImage,
    push_image: PushImage,
    auth_registry: Registry,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    image = busybox_image(workdir="/app", procfile=PROCFILE)
    ref = push_image(image.tag, auth_registry, f"acme/{unique()}", "v1")
    docker_client.images.remove(ref)
    docker_client.images.remove(image.tag)
    auth = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode())
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"auths": {f"http://{auth_registry.address}": {"auth": auth.decode()}}})
    )

    with pytest.raises(RegistryError, match="no basic auth credentials"):
        DockerImages(docker_client).resolve(ImageRef.parse(ref))
    resolved = DockerImages(docker_client, auth_config_path=str(config)).resolve(
        ImageRef.parse(ref)
    )

    assert resolved.identity.startswith(f"{auth_registry.address}/acme/empire-test-")
    assert resolved.has_digest is True


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
        resolved = _identity(ImageRef.parse(text), attrs)
        assert resolved == ResolvedImage(identity=f"busybox@{digest}", has_digest=True)
    assert _identity(ImageRef.parse("acme/api"), attrs).has_digest is False


def test_discard_removes_an_unused_image_and_keeps_one_in_use(
    images: DockerImages, busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    unused = busybox_image(workdir="/app", cmd=["true"])
    busy = busybox_image(workdir="/app", run="echo busy > /busy", cmd=["sleep", "30"])
    container = docker_client.containers.create(busy.id, ["sleep", "30"])
    try:
        images.discard(images.resolve(ImageRef.parse(unused.tag)).identity)
        images.discard(images.resolve(ImageRef.parse(busy.tag)).identity)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(unused.id)
        assert docker_client.images.get(busy.id).id == busy.id
        images.discard("sha256:" + "0" * 64)  # already gone: nothing to do
    finally:
        container.remove(force=True)
