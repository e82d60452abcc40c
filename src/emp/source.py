"""A directory as a build source: a tar.gz of it, less what its `.dockerignore` leaves out.

`.dockerignore` is read as Docker reads it, for the common forms: one pattern a line, `#`
comments, `*`, `?`, `[...]` and `**` (any number of directories), a leading `!` re-including
what an earlier pattern excluded; a pattern naming a directory excludes all below it. The
`Dockerfile` and `.dockerignore` are always sent (the builder needs them). Symlinks are sent
as symlinks, never followed (the server refuses one that leaves the directory).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

ALWAYS = ("Dockerfile", ".dockerignore")


def ignore_patterns(directory: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """The `.dockerignore` rules of `directory`: (excludes, pattern), in order."""
    path = directory / ".dockerignore"
    if not path.is_file():
        return []
    rules = []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        line = line.removeprefix("!").strip()
        cleaned = os.path.normpath(line).lstrip("/")
        if cleaned in (".", ""):
            continue
        rules.append((not include, re.compile(_regex(cleaned))))
    return rules


def ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether `relative` (a/b/c) is left out: the last rule matching it or a parent decides."""
    if relative in ALWAYS:
        return False
    result = False
    parts = relative.split("/")
    for excludes, pattern in rules:
        if any(pattern.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            result = excludes
    return result


def tarball(directory: Path) -> bytes:
    """The directory as a gzipped tar, paths relative to it, less the ignored files."""
    rules = ignore_patterns(directory)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for root, dirs, files in os.walk(directory):
            base = Path(root)
            rel_root = base.relative_to(directory).as_posix()
            dirs.sort()
            kept = []
            for name in dirs:
                relative = name if rel_root == "." else f"{rel_root}/{name}"
                if (base / name).is_symlink():
                    if not ignored(relative, rules):
                        archive.add(base / name, arcname=relative, recursive=False)
                    continue
                if not ignored(relative, rules) or _reincluded_below(relative, rules):
                    kept.append(name)
                    archive.add(base / name, arcname=relative, recursive=False)
            dirs[:] = kept
            for name in sorted(files):
                relative = name if rel_root == "." else f"{rel_root}/{name}"
                if not ignored(relative, rules):
                    archive.add(base / name, arcname=relative, recursive=False)
    return buffer.getvalue()


def _reincluded_below(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether a `!` rule may re-include something under an excluded directory."""
    return any(
        not excludes and pattern.pattern.startswith(re.escape(relative))
        for excludes, pattern in rules
    )


def _regex(pattern: str) -> str:
    """A .dockerignore pattern (Go's filepath.Match, plus `**`) as a regular expression."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)
