"""FakeImages: the in-memory Images backend behaves like the Docker one, deterministically."""

from __future__ import annotations

import hashlib

import pytest

from empire import procfile
from empire.errors import ImageNotFound, InvalidProcfile
from empire.images import ImageRef, Images, JsonMessage, ResolvedImage
from empire.images.fake import FakeImages

PROCFILE = b"web: ./bin/web\nworker: ./bin/worker\n"


def ref(text: str) -> ImageRef:
    """Parse an image reference (shorter to read in the tests)."""
    return ImageRef.parse(text)


def test_is_an_images_backend() -> None:
    images: Images = FakeImages({"busybox": PROCFILE})  # mypy checks the protocol
    assert images.resolve(ImageRef.parse("busybox"), None) is not None


def test_resolves_to_a_deterministic_digest_of_the_reference() -> None:
    images = FakeImages({"acme/api:v42": PROCFILE})
    sha = hashlib.sha256(b"acme/api:v42").hexdigest()

    resolved = images.resolve(ref("acme/api:v42"))

    assert resolved == ResolvedImage(identity=f"acme/api@sha256:{sha}", has_digest=True)
    assert FakeImages({"acme/api:v42": PROCFILE}).resolve(ref("acme/api:v42")) == resolved


def test_reads_the_procfile() -> None:
    images = FakeImages({"acme/api:v42": PROCFILE})

    source = images.procfile(images.resolve(ref("acme/api:v42")).identity)

    assert (source.content, source.path, source.cmd) == (PROCFILE, "/app/Procfile", None)


def test_the_tag_defaults_to_latest() -> None:
    images = FakeImages({"remind101/acme-inc": PROCFILE})

    assert images.resolve(ref("remind101/acme-inc:latest")) == images.resolve(
        ref("remind101/acme-inc")
    )


def test_emits_one_pull_progress_message() -> None:
    images = FakeImages({"quay.io/acme/api:v1": PROCFILE})
    progress: list[JsonMessage] = []

    images.resolve(ref("quay.io/acme/api:v1"), progress.append)

    assert progress == [{"status": "Pulling from quay.io/acme/api", "id": "v1"}]


def test_resolves_by_digest() -> None:
    images = FakeImages({"acme/api:v1": PROCFILE})
    resolved = images.resolve(ref("acme/api:v1"))

    assert images.resolve(ref(resolved.identity)) == resolved
    assert images.resolve(ref(f"acme/api:v1@{resolved.identity.partition('@')[2]}")) == resolved


def test_an_explicit_digest() -> None:
    digest = "sha256:" + "ab" * 32
    images = FakeImages()
    images.add("acme/api:v1", PROCFILE, digest=digest)

    assert images.resolve(ref("acme/api:v1")).identity == f"acme/api@{digest}"


def test_no_digest_gives_an_image_id() -> None:
    images = FakeImages()
    images.add("acme/local:dev", PROCFILE, no_digest=True)

    resolved = images.resolve(ref("acme/local:dev"))

    assert resolved.has_digest is False
    assert resolved.identity.startswith("sha256:")
    assert len(resolved.identity) == len("sha256:") + 64
    assert images.procfile(resolved.identity).content == PROCFILE


def test_cmd_generates_a_procfile() -> None:
    images = FakeImages()
    images.add("acme/worker:v1", cmd=["./bin/worker", "--fast"])

    source = images.procfile(images.resolve(ref("acme/worker:v1")).identity)

    assert source.path is None
    assert source.cmd == ("./bin/worker", "--fast")
    assert procfile.parse(source.content)["web"].command == ("./bin/worker", "--fast")


def test_no_procfile_and_no_cmd_is_invalid() -> None:
    images = FakeImages()
    images.add("acme/empty:v1")

    with pytest.raises(InvalidProcfile, match=r"no Procfile in its WORKDIR .* and no CMD"):
        images.procfile(images.resolve(ref("acme/empty:v1")).identity)


def test_a_re_push_changes_the_identity_and_keeps_the_old_one() -> None:
    images = FakeImages({"acme/api:latest": b"web: ./v1\n"})
    old = images.resolve(ref("acme/api"))
    images.add("acme/api", b"web: ./v2\n")

    new = images.resolve(ref("acme/api"))

    assert new != old
    assert images.procfile(new.identity).content == b"web: ./v2\n"
    assert images.procfile(old.identity).content == b"web: ./v1\n"


def test_re_adding_the_same_content_keeps_the_identity() -> None:
    images = FakeImages({"acme/api:v1": PROCFILE})
    first = images.resolve(ref("acme/api:v1"))

    assert images.add("acme/api:v1", PROCFILE) == first


def test_unknown_repository_is_not_found() -> None:
    images = FakeImages({"acme/api:v1": PROCFILE})
    progress: list[JsonMessage] = []

    with pytest.raises(ImageNotFound, match=r"image acme/nope:v1 not found: repository acme/nope"):
        images.resolve(ref("acme/nope:v1"), progress.append)
    assert progress == []


def test_unknown_tag_is_not_found() -> None:
    images = FakeImages({"acme/api:v1": PROCFILE})

    with pytest.raises(ImageNotFound, match=r"image acme/api:v2 not found: manifest"):
        images.resolve(ref("acme/api:v2"))


def test_unknown_identity_is_not_found() -> None:
    with pytest.raises(ImageNotFound):
        FakeImages().procfile("acme/api@sha256:" + "0" * 64)


def test_accept_any_resolves_every_reference_with_the_default_procfile() -> None:
    images = FakeImages(default_procfile=b"web: ./bin/web\n", accept_any=True)
    images.add("acme/special:v1", cmd=["./special"])

    anything = images.resolve(ref("remind101/acme-inc:latest"))
    special = images.resolve(ref("acme/special:v1"))

    assert anything.has_digest is True
    assert images.procfile(anything.identity).content == b"web: ./bin/web\n"
    assert images.procfile(special.identity).cmd == ("./special",)
    assert images.resolve(ref("remind101/acme-inc")) == anything


def test_records_what_was_resolved() -> None:
    images = FakeImages(default_procfile=b"web: x\n", accept_any=True)
    images.resolve(ref("acme/a:1"))
    images.resolve(ref("acme/b"))

    assert [str(r) for r in images.resolved] == ["acme/a:1", "acme/b"]
