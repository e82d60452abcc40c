"""Build contexts from users: each hostile form refused with a message naming the member."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from empire.builds import OUTPUT_LINE, Output, clean
from empire.builds.context import check
from empire.errors import Invalid

DOCKERFILE = b"FROM scratch\n"


def tar(*members: tarfile.TarInfo | tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def refused(source: bytes, message: str, max_bytes: int = 1 << 20) -> None:
    with pytest.raises(Invalid) as raised:
        check(source, max_bytes)
    assert message in raised.value.message, raised.value.message


def test_a_plain_and_a_gzipped_context_with_a_dockerfile_are_accepted() -> None:
    plain = tar(("Dockerfile", DOCKERFILE), ("app/x", b"1"), link("app/y", "x"))
    assert check(plain, 1 << 20).tar == plain
    zipped = check(gzip.compress(plain), 1 << 20)
    assert zipped.tar == plain and zipped.checksum.startswith("SHA256:")
    assert check(tar(("./Dockerfile", DOCKERFILE)), 1 << 20).size > 0


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (("/etc/passwd", b"x"), "absolute path '/etc/passwd'"),
        (("../up", b"x"), "has '..'"),
        (("a/../../up", b"x"), "has '..'"),
        (("a/../b", b"x"), "must not contain '..'"),
        (link("out", "/etc/shadow"), "is a symlink to an absolute path"),
        (link("out", "../../etc"), "'out' points outside the build context"),
        (link("a/b/out", "../../../x"), "points outside the build context"),
        (link("hard", "/etc/passwd", tarfile.LNKTYPE), "points outside the build context"),
        (link("hard", "../x", tarfile.LNKTYPE), "points outside the build context"),
    ],
)
def test_a_member_leaving_the_context_is_refused(member: object, message: str) -> None:
    refused(tar(("Dockerfile", DOCKERFILE), member), message)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "links",
    [
        (link("x", "."), link("y", "x/..")),
        (link("a", "."), link("b", "a/a/a/../../..")),
        (link("d/up", ".."), link("d/e", "up/d/up/..")),
    ],
)
def test_a_chain_of_symlinks_leaving_the_context_is_refused(
    links: tuple[tarfile.TarInfo, ...],
) -> None:
    refused(tar(("Dockerfile", DOCKERFILE), *links), "points outside the build context")


def test_symlinks_through_symlinks_inside_the_context_and_loops() -> None:
    inside = tar(("Dockerfile", DOCKERFILE), ("lib/a", b"1"), link("l", "lib"), link("m", "l/a"))
    assert check(inside, 1 << 20).size > 0
    refused(tar(("Dockerfile", DOCKERFILE), link("p", "q/x"), link("q", "p/y")), "(a loop?)")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos_are_refused(kind: bytes) -> None:
    device = tarfile.TarInfo("dev/sda")
    device.type = kind
    refused(tar(("Dockerfile", DOCKERFILE), device), "'dev/sda' is a")


def test_no_dockerfile_not_a_tar_empty_and_over_the_cap_are_refused() -> None:
    refused(tar(("app.py", b"print()")), "no Dockerfile at the root")
    refused(tar(("sub/Dockerfile", DOCKERFILE)), "no Dockerfile at the root")
    refused(b"not a tar at all" * 100, "not a tar archive")
    refused(b"", "the build source is empty")
    big = tar(("Dockerfile", DOCKERFILE), ("blob", b"\0" * 200_000))
    refused(big, "over the limit of 100000 bytes", max_bytes=100_000)
    # A gzip bomb stops at the cap: 50 MB of zeros in ~50 kB.
    bomb = gzip.compress(tar(("Dockerfile", DOCKERFILE), ("zeros", b"\0" * (50 << 20))))
    assert len(bomb) < 1 << 20
    refused(bomb, "over the limit of 1048576 bytes")
    refused(b"\x1f\x8bnot really gzip", "not a valid gzip file")


def test_output_lines_are_cut_escaped_and_bounded() -> None:
    assert clean("a\x1b[31mred\x00\r\n") == "a\\x1b[31mred\\x00"
    assert clean("tab\there") == "tab\there"
    long = clean("x" * (OUTPUT_LINE + 50))
    assert long.startswith("x" * OUTPUT_LINE) and long.endswith("[... 50 more characters cut]")
    seen: list[str] = []
    output = Output(seen.append, limit=100)
    for _ in range(50):
        output.line("0123456789")
    assert output.cut and seen[-1].startswith("[... build output cut")
    assert len(output.text()) < 200 and len(seen) < 12
