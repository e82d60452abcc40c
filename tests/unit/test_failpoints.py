"""The failpoint facility the fault tier uses: `EMPIRE_FAILPOINTS` is parsed and checked by
`Settings.from_env`; `Failpoints` does nothing unless armed, and when armed leaves its marker
before it pauses (a test waits for the marker, then kills the process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from empire import failpoints
from empire.errors import Invalid
from empire.failpoints import Failpoints
from empire.settings import Settings


def test_failpoints_are_read_from_the_environment_and_checked(tmp_path: Path) -> None:
    env = {"EMPIRE_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).failpoints == ()
    armed = Settings.from_env({**env, "EMPIRE_FAILPOINTS": "mid-rollout, draining"})
    assert armed.failpoints == ("mid-rollout", "draining")
    with pytest.raises(Invalid, match="EMPIRE_FAILPOINTS='mid-rolout'"):
        Settings.from_env({**env, "EMPIRE_FAILPOINTS": "mid-rolout"})


def test_a_failpoint_is_inert_unless_armed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[tuple[float, list[str]]] = []  # each pause, and the markers there by then

    def sleep(seconds: float) -> None:
        pauses.append((seconds, sorted(p.name for p in tmp_path.iterdir())))

    monkeypatch.setattr(failpoints.time, "sleep", sleep)
    points = Failpoints(["draining"], tmp_path, pause=0.2)
    points.hit("mid-rollout")
    assert pauses == []
    assert list(tmp_path.iterdir()) == []
    points.hit("draining")
    assert pauses == [(0.2, ["failpoint-draining"])]  # the marker first, then the pause
    assert (tmp_path / "failpoint-draining").read_text().strip().isdigit()  # our pid
    Failpoints().hit("draining")  # the default: nothing armed
    assert len(pauses) == 1
