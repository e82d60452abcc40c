"""`emp deploy DIR`'s tarball: the directory less what .dockerignore leaves out."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from emp.source import tarball


def names(directory: Path) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(tarball(directory)), mode="r:gz") as archive:
        return {member.name for member in archive}


def test_dockerignore_patterns_leave_files_out(tmp_path: Path) -> None:
    for path in (
        "Dockerfile",
        "app/main.py",
        "app/debug.log",
        "secrets/key",
        "node_modules/x/y",
        "docs/a.md",
        "docs/keep.md",
        "deep/er/cache.tmp",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    (tmp_path / "link").symlink_to("/etc/passwd")
    (tmp_path / ".dockerignore").write_text(
        "# comment\nsecrets\n**/*.log\nnode_modules/\n"
        "docs/*.md\n!docs/keep.md\n**/*.tmp\nDockerfile\n"
    )
    got = names(tmp_path)
    assert {"Dockerfile", ".dockerignore", "app/main.py", "docs/keep.md", "link"} <= got
    assert not {"app/debug.log", "secrets/key", "secrets", "node_modules/x/y", "docs/a.md"} & got
    assert "deep/er/cache.tmp" not in got
    with tarfile.open(fileobj=io.BytesIO(tarball(tmp_path)), mode="r:gz") as archive:
        assert archive.getmember("link").issym()  # sent as a link, never followed
