"""Transcripts: `emp deploy DIR`, `emp deploy` in a directory with a Dockerfile, `emp builds`
(the fake builder: each Dockerfile line is a step)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import Emp


def app_dir(path: Path, dockerfile: str = "FROM scratch\nCOPY . /app\n") -> Path:
    path.mkdir(parents=True)
    (path / "Dockerfile").write_text(dockerfile)
    (path / "Procfile").write_text("web: ./web\n")
    return path


@contextmanager
def inside(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def test_deploy_dir_builds_and_releases(emp: Emp, tmp_path: Path) -> None:
    emp("create", "acme")
    code, out, err = emp("deploy", "-a", "acme", str(app_dir(tmp_path / "src")))
    assert (code, err) == (0, "")
    assert "Step 1/2 : FROM scratch\n" in out
    assert out.endswith("Status: Release v1 of acme succeeded\n")
    assert emp("builds", "-a", "acme").out.split()[1:4] == ["succeeded", "-", "v1"]


def test_deploy_in_a_directory_with_a_dockerfile_names_the_app_after_it(
    emp: Emp, tmp_path: Path
) -> None:
    emp("create", "shop")
    with inside(app_dir(tmp_path / "Shop")):
        code, out, err = emp("deploy")
    assert (code, err) == (0, ""), out
    assert "Status: Created new release v1 for shop\n" in out


def test_a_failed_build_exits_non_zero_and_says_why(emp: Emp, tmp_path: Path) -> None:
    emp("create", "acme")
    broken = app_dir(tmp_path / "src", "FROM scratch\nRUN false\n")
    code, out, err = emp("deploy", "-a", "acme", str(broken))
    assert code == 1
    assert "Step 2/2 : RUN false\n" in out
    assert err.startswith("error: the build failed: The command '/bin/sh -c false'")
    assert emp("releases", "-a", "acme").out == ""
    assert emp("builds", "-a", "acme").out.split()[1] == "failed"


def test_a_directory_without_a_dockerfile_is_no_image_either(emp: Emp, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert emp("deploy", "-a", "acme", str(empty)) == (
        1,
        "",
        f"error: {empty} has no Dockerfile: Empire builds Dockerfiles\n",
    )
