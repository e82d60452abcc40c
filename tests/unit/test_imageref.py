"""ImageRef.parse: the references `emp deploy` accepts and the ones it refuses."""

from __future__ import annotations

import pytest

from empire.errors import InvalidImage
from empire.images import ImageRef

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme/api:v42", ImageRef(repository="acme/api", tag="v42")),
        ("remind101/acme-inc", ImageRef(repository="remind101/acme-inc")),
        (
            f"localhost:5000/acme/api@{DIGEST}",
            ImageRef(repository="acme/api", registry="localhost:5000", digest=DIGEST),
        ),
        ("quay.io/a/b:1", ImageRef(repository="a/b", registry="quay.io", tag="1")),
        ("busybox", ImageRef(repository="busybox")),
        ("127.0.0.1:5000/api:v1", ImageRef(repository="api", registry="127.0.0.1:5000", tag="v1")),
    ],
)
def test_parse(text: str, expected: ImageRef) -> None:
    assert ImageRef.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    ["acme/api:v42", "remind101/acme-inc", f"localhost:5000/acme/api@{DIGEST}", "quay.io/a/b:1"],
)
def test_str_round_trips(text: str) -> None:
    assert str(ImageRef.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "name", "full"),
    [
        ("remind101/acme-inc:latest", "acme-inc", "remind101/acme-inc"),
        ("quay.io/a/b:1", "b", "quay.io/a/b"),
        ("busybox", "busybox", "busybox"),
    ],
)
def test_name_and_full_repository(text: str, name: str, full: str) -> None:
    ref = ImageRef.parse(text)
    assert (ref.name, ref.full_repository) == (name, full)


@pytest.mark.parametrize("text", ["", "   ", "Acme/API", "a b", "acme/api:", ":tag", "acme//api"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidImage, match=r"^(image is empty|invalid image reference)"):
        ImageRef.parse(text)
