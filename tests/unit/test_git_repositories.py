"""The apps' bare repositories: made with Empire's hook, replaced for a new app of a name."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from empire.builds.git import repository


def test_a_repository_is_made_once_with_the_hook_and_replaced_for_a_new_app(
    tmp_path: Path,
) -> None:
    path = repository(tmp_path, "acme", "id-1")
    hook = path / "hooks" / "pre-receive"
    assert os.access(hook, os.X_OK) and "PUSH_HOOK_URL" in hook.read_text()
    (path / "marker").write_text("history")
    assert repository(tmp_path, "acme", "id-1") == path and (path / "marker").exists()
    assert repository(tmp_path, "acme", "id-2") == path and not (path / "marker").exists()
    config = subprocess.run(
        ["git", "config", "--file", str(path / "config"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "http.uploadpack=false" in config and "empire.appid=id-2" in config


@pytest.mark.parametrize("name", ["../x", "a/b", "", "UPPER", "x" * 64])
def test_only_app_names_make_repositories(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        repository(tmp_path, name, "id")
    assert list(tmp_path.iterdir()) == []
