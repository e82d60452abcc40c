"""Check a build context (a tar, maybe gzipped) before any builder sees it.

A context comes from a user: it may try to leave itself (absolute paths, `..`, a symlink or a
hard link pointing out), carry device files, be a decompression bomb, or have no Dockerfile.
Each is refused here with a message naming the member, so the engine only ever gets a plain tar
whose every member stays inside it.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass

from empire.errors import Invalid

GZIP_MAGIC = b"\x1f\x8b"
MAX_MEMBERS = 100_000
MAX_HOPS = 40  # symlinks one path may go through (as Linux's MAXSYMLINKS)
DOCKERFILE = "Dockerfile"


@dataclass(frozen=True, slots=True)
class Context:
    """A checked context: the plain tar, its checksum (of what was sent) and size."""

    tar: bytes
    checksum: str  # "SHA256:<hex>" of the bytes as sent
    size: int  # bytes of the plain tar


def check(source: bytes, max_bytes: int) -> Context:
    """Return the context in `source` (a tar or a gzipped tar) or raise Invalid saying why it
    cannot be built: too large (uncompressed, over `max_bytes`), not a tar, a member that
    leaves the context or is not a file, directory or link, no `Dockerfile` at its root."""
    if not source:
        raise Invalid("the build source is empty: send a tar (or tar.gz) of a directory")
    checksum = "SHA256:" + hashlib.sha256(source).hexdigest()
    tar = _gunzip(source, max_bytes) if source.startswith(GZIP_MAGIC) else source
    if len(tar) > max_bytes:
        raise Invalid(_too_large(max_bytes))
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            members = _members(archive)
    except tarfile.TarError as exc:
        raise Invalid(f"the build source is not a tar archive: {exc}") from exc
    names = set()
    links: dict[str, str] = {}
    for member in members:
        name = _inside(member.name, member.name)
        names.add(name)
        if member.isdir() or member.isfile():
            continue
        if member.issym():
            target = member.linkname
            if posixpath.isabs(target):
                raise Invalid(f"{member.name!r} is a symlink to an absolute path ({target!r})")
            _inside(posixpath.join(posixpath.dirname(name), target), member.name, "points")
            links[name] = target
            continue
        if member.islnk():
            _inside(member.linkname, member.name, "points")
            continue
        kind = "a device file" if member.ischr() or member.isblk() else "a FIFO or special file"
        raise Invalid(f"{member.name!r} is {kind}: a build context holds files and directories")
    for name, target in links.items():  # through other links too: `y -> x/..` with `x -> .`
        _resolve(name, target, links)
    if DOCKERFILE not in names:
        raise Invalid(
            "no Dockerfile at the root of the build source: Empire builds Dockerfile contexts"
        )
    return Context(tar, checksum, len(tar))


def _members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for member in archive:
        members.append(member)
        if len(members) > MAX_MEMBERS:
            raise Invalid(f"the build source has more than {MAX_MEMBERS} entries")
    if not members:
        raise Invalid("the build source is an empty tar: it needs at least a Dockerfile")
    return members


def _inside(path: str, member: str, verb: str = "leaves") -> str:
    """`path` normalized and relative to the context's root; Invalid if it leaves it."""
    if "\x00" in path:
        raise Invalid(f"{member!r} has a NUL character in its name")
    if posixpath.isabs(path):
        raise Invalid(f"{member!r} {verb} outside the build context: absolute path {path!r}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            raise Invalid(f"{member!r} {verb} outside the build context ({path!r} has '..')")
    if ".." in parts and verb == "leaves":
        raise Invalid(f"{member!r}: a path in a build context must not contain '..'")
    return posixpath.normpath("/".join(parts)) if parts else "."


def _resolve(name: str, target: str, links: dict[str, str]) -> None:
    """Follow the symlink `name` -> `target` through the context's other symlinks, as the
    builder's filesystem would; Invalid when the path it leads to leaves the context (or
    goes through more than MAX_HOPS links: a loop)."""
    parts = collections.deque(target.split("/"))
    current = [p for p in posixpath.dirname(name).split("/") if p]
    hops = 0
    while parts:
        part = parts.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                raise Invalid(f"{name!r} points outside the build context through its links")
            current.pop()
            continue
        current.append(part)
        link = links.get("/".join(current))
        if link is None:
            continue
        hops += 1
        if hops > MAX_HOPS:
            raise Invalid(f"{name!r} goes through more than {MAX_HOPS} symlinks (a loop?)")
        current.pop()
        parts.extendleft(reversed(link.split("/")))


def _gunzip(source: bytes, max_bytes: int) -> bytes:
    """Decompress, reading at most `max_bytes` + 1 bytes (a bomb stops there)."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(source)) as stream:
            data = stream.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise Invalid(f"the build source is not a valid gzip file: {exc}") from exc
    if len(data) > max_bytes:
        raise Invalid(_too_large(max_bytes))
    return data


def _too_large(max_bytes: int) -> str:
    return (
        f"the build source is over the limit of {max_bytes} bytes (uncompressed): "
        "leave large files out (.dockerignore) or raise EMPIRE_BUILD_MAX_SOURCE"
    )
