"""DockerImages against the real local Docker engine and a local docker-registry.

The registries listen on 127.0.0.1, which Empire refuses by default (issue 13 item 17): the
`images` fixture opts in with `ImagePolicy(allow_local_registries=True)`, as an operator would
with EMPIRE_ALLOW_LOCAL_REGISTRIES.
"""

from __future__ import annotations

import base64
import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from empire import procfile as procfiles
from empire.errors import Forbidden, ImageNotFound, InvalidProcfile, RegistryError
from empire.images import ImageRef, JsonMessage, ResolvedImage
from empire.images.docker import DockerImages
from empire.images.policy import ImagePolicy
from support.services import free_port

BuildImage = Callable[..., Any]  # the busybox_image fixture (see conftest)
PushImage = Callable[..., str]  # the push_image fixture
Registry = Any  # what the local_registry and auth_registry fixtures yield

PROCFILE = b"web: ./bin/web --port 80\nworker: ./bin/worker\n"
LOCAL = ImagePolicy(allow_local_registries=True)  # the test registries are on 127.0.0.1


@pytest.fixture
def images(docker_client: docker.DockerClient) -> DockerImages:
    return DockerImages(docker_client, policy=LOCAL)


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
        DockerImages(docker_client, policy=LOCAL).resolve(ImageRef.parse(ref))
    resolved = DockerImages(docker_client, auth_config_path=str(config), policy=LOCAL).resolve(
        ImageRef.parse(ref)
    )

    assert resolved.identity.startswith(f"{auth_registry.address}/acme/empire-test-")
    assert resolved.has_digest is True


def _pulled(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    registry: Registry,
    docker_client: docker.DockerClient,
) -> tuple[str, ResolvedImage]:
    """Push an image, remove every local copy, resolve it (a pull): its ref and identity."""
    image = busybox_image(workdir="/app", procfile=PROCFILE)
    ref = push_image(image.tag, registry, f"acme/{unique()}", "v1")
    docker_client.images.remove(ref)
    docker_client.images.remove(image.tag)
    return ref, images.resolve(ImageRef.parse(ref))


def _present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def test_discard_removes_an_image_empire_pulled(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
) -> None:
    ref, resolved = _pulled(images, busybox_image, push_image, local_registry, docker_client)
    image_id = str(docker_client.images.get(resolved.identity).id)

    images.discard(resolved.identity)

    assert not _present(docker_client, ref)
    assert not _present(docker_client, resolved.identity)
    assert not _present(docker_client, image_id)
    images.discard(resolved.identity)  # already gone: nothing to do


def test_discard_keeps_an_image_that_was_on_the_engine_before(
    images: DockerImages, busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    # The operator's build (never pulled by Empire): deployed, then its app destroyed.
    operators = busybox_image(workdir="/app", cmd=["true"])
    identity = images.resolve(ImageRef.parse(operators.tag)).identity

    images.discard(identity)

    assert docker_client.images.get(operators.tag).id == operators.id


def test_discard_keeps_a_pulled_image_the_engine_had_under_that_tag(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
) -> None:
    # The operator pulled (or pushed) it first: Empire uses it without pulling, so it is not
    # Empire's to remove.
    image = busybox_image(workdir="/app", procfile=PROCFILE)
    ref = push_image(image.tag, local_registry, f"acme/{unique()}", "v1")
    identity = images.resolve(ImageRef.parse(ref)).identity

    images.discard(identity)

    assert _present(docker_client, ref)


def test_discard_keeps_a_pulled_image_a_container_uses_and_retries_later(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
) -> None:
    ref, resolved = _pulled(images, busybox_image, push_image, local_registry, docker_client)
    container = docker_client.containers.create(ref, ["true"])  # stopped, still a user
    try:
        images.discard(resolved.identity)
        assert _present(docker_client, ref)
        assert _present(docker_client, resolved.identity)
    finally:
        container.remove(force=True)

    images.discard(resolved.identity)

    assert not _present(docker_client, ref)


def test_discard_keeps_a_pulled_image_the_operator_tagged(
    images: DockerImages,
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
) -> None:
    ref, resolved = _pulled(images, busybox_image, push_image, local_registry, docker_client)
    pulled = docker_client.images.get(ref)
    mine = f"{unique()}-operator:keep"
    pulled.tag(mine)
    try:
        images.discard(resolved.identity)

        assert docker_client.images.get(mine).id == pulled.id  # the operator's tag and image
        assert not _present(docker_client, ref)  # Empire's own tag is gone
    finally:
        docker_client.images.remove(mine)


def test_the_pull_ledger_outlives_the_process(
    busybox_image: BuildImage,
    push_image: PushImage,
    local_registry: Registry,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "data" / "images-pulled.json"
    first = DockerImages(docker_client, policy=LOCAL, pulled_path=ledger)
    ref, resolved = _pulled(first, busybox_image, push_image, local_registry, docker_client)
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    assert json.loads(ledger.read_text()) == {resolved.identity: [ref]}

    DockerImages(docker_client, policy=LOCAL, pulled_path=ledger).discard(resolved.identity)

    assert not _present(docker_client, ref)
    assert json.loads(ledger.read_text()) == {}


# -- what may be deployed (issue 13 items 8 and 17) -------------------------------------------


def test_a_local_registry_is_refused_before_the_engine_is_asked(
    docker_client: docker.DockerClient,
) -> None:
    # With the operator's consent the same reference reaches the engine: "connection refused"
    # (test_an_unreachable_registry_is_a_registry_error). Without it, nothing is asked.
    for text in (f"127.0.0.1:{free_port()}/{unique()}:v1", "169.254.169.254/x", "[::1]:5000/x"):
        with pytest.raises(Forbidden, match="EMPIRE_ALLOW_LOCAL_REGISTRIES"):
            DockerImages(docker_client).resolve(ImageRef.parse(text))


def test_a_name_resolving_to_loopback_is_refused(docker_client: docker.DockerClient) -> None:
    # `localhost` under another name: the engine would resolve it and pull over plain HTTP.
    images = DockerImages(docker_client, resolve=lambda host: ["127.0.0.1"])

    with pytest.raises(Forbidden, match=r"resolves to 127\.0\.0\.1, which is a loopback"):
        images.resolve(ImageRef.parse(f"registry.example.com:{free_port()}/{unique()}:v1"))


def test_an_image_outside_the_allowed_repositories_is_refused_even_when_present(
    busybox_image: BuildImage, docker_client: docker.DockerClient
) -> None:
    image = busybox_image(procfile=PROCFILE)  # on the engine: found without a pull, until now
    images = DockerImages(docker_client, policy=ImagePolicy(allowed=("acme/*",)))

    with pytest.raises(Forbidden, match=r"is not allowed here: .* matching acme/\*"):
        images.resolve(ImageRef.parse(image.tag))
    with pytest.raises(Forbidden):
        images.resolve(ImageRef.parse(image.id))  # an image ID is repository `sha256`


# -- Procfile size (issue 13 item 2) ----------------------------------------------------------


def test_a_procfile_over_the_limit_is_refused(
    images: DockerImages, busybox_image: BuildImage
) -> None:
    image = busybox_image(
        workdir="/app", run="yes 'web: ./bin/web' | head -c 3000000 > /app/Procfile"
    )

    with pytest.raises(
        InvalidProcfile, match=r"^/app/Procfile is 3000000 bytes, over the limit of 65536"
    ):
        images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)


def test_a_procfile_at_the_limit_is_read(images: DockerImages, busybox_image: BuildImage) -> None:
    line = "web: ./bin/web"
    image = busybox_image(
        workdir="/app",
        run=f"(echo '{line}'; yes '#' | head -c {65536 - len(line) - 1}) > /app/Procfile",
    )

    source = images.procfile(images.resolve(ImageRef.parse(image.tag)).identity)

    assert len(source.content) == 65536
    assert procfiles.parse(source.content)["web"].command == ("./bin/web",)
