"""Sizes: named and raw forms, rendering, and the errors a user sees."""

from __future__ import annotations

import pytest

from empire import sizes
from empire.errors import Invalid
from empire.model import Size

KB, MB, GB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1X", Size(256, 512 * MB, 256)),
        ("1x", Size(256, 512 * MB, 256)),
        ("2X", Size(512, 1 * GB, 512)),
        ("px", Size(1024, 6 * GB, 0)),
        ("512:1KB", Size(512, 1024, 0)),
        ("512:1KB:nproc=512", Size(512, 1024, 512)),
        ("512:1kb:NPROC=512", Size(512, 1024, 512)),
        ("1025:1KB", Size(1025, 1024, 0)),
        ("2:1", Size(2, 1, 0)),
        ("256:1B", Size(256, 1, 0)),
        ("256:128mb", Size(256, 128 * MB, 0)),
        ("256:1.25GB", Size(256, int(1.25 * GB), 0)),
        ("256:1TB", Size(256, 1024**4, 0)),
        (" 256:1GB ", Size(256, GB, 0)),
    ],
)
def test_parse(text: str, expected: Size) -> None:
    assert sizes.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["0:1KB", "1:1KB", "1024", "abc", "", "f", "256:shitGB", "256:1SHITB", "256:0"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(Invalid, match=f'invalid size "{text}"'):
        sizes.parse(text)


@pytest.mark.parametrize(
    "text", ["256:0.1B", "-5:1GB", "a:1GB", "256:1GB:x=1", "256:1GB:nproc=-1", "1:2:3:4", "1Y"]
)
def test_parse_rejects_more(text: str) -> None:
    with pytest.raises(Invalid):
        sizes.parse(text)


def test_errors_say_what_is_accepted() -> None:
    with pytest.raises(Invalid) as caught:
        sizes.parse("1024")
    assert str(caught.value) == (
        'invalid size "1024": use 1X, 2X, PX or cpu:memory[:nproc=N], e.g. 512:1GB'
    )


def test_cpu_shares_must_be_greater_than_one() -> None:
    with pytest.raises(Invalid, match="CPUShare must be greater than 1"):
        sizes.parse("0:1KB")


def test_bad_memory_names_the_memory() -> None:
    with pytest.raises(Invalid, match='memory "shitGB" must be a number'):
        sizes.parse("256:shitGB")


def test_default_is_1x() -> None:
    assert sizes.NAMED["1X"] == sizes.DEFAULT


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (Size(256, 512 * MB, 256), "1X"),
        (Size(512, GB, 512), "2X"),
        (Size(1024, 6 * GB, 0), "PX"),
        (Size(256, 512 * MB, 0), "256:512.00mb"),  # like 1X but nproc differs
        (Size(256, GB, 0), "256:1.00gb"),
        (Size(100, MB, 0), "100:1.00mb"),
        (Size(100, MB, 512), "100:1.00mb:nproc=512"),
        (Size(512, 1024, 0), "512:1.00kb"),
        (Size(512, 1023, 0), "512:1023"),
        (Size(512, int(1.5 * GB), 0), "512:1.50gb"),
        (Size(512, 2 * 1024**4, 0), "512:2.00tb"),
    ],
)
def test_render(size: Size, text: str) -> None:
    assert sizes.render(size) == text


@pytest.mark.parametrize(
    "size", [Size(256, GB, 0), Size(100, 1023, 7), Size(512, 3 * MB, 64), sizes.NAMED["PX"]]
)
def test_render_parses_back(size: Size) -> None:
    assert sizes.parse(sizes.render(size)) == size


def test_parse_memory() -> None:
    assert sizes.parse_memory("1") == 1
    assert sizes.parse_memory("1kb") == KB
    assert sizes.parse_memory("1.25GB") == int(1.25 * GB)
    with pytest.raises(Invalid, match='invalid memory "1SHITB"'):
        sizes.parse_memory("1SHITB")
