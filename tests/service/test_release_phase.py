"""The release phase through the facade: a Procfile's `release` runs once per new release,
before any process of it starts, and decides whether the release goes on."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from empire import progress
from empire.errors import Invalid
from empire.model import Outcome, RunRequest, ScaleUpdate
from empire.scheduler import Manifest, ManifestProcess, PhaseResult
from empire.usecases.base import PHASE_LINE, PHASE_LINES, PHASE_TAIL
from support.stack import Stack, make_stack

OK = b"web: ./bin/web\nrelease: sh -c 'echo migrating $DATABASE; echo done'\n"
BROKEN = b"web: ./bin/web2\nrelease: sh -c 'echo step 1; echo step 2; exit 3'\n"


def test_exit_0_streams_its_output_then_the_release_rolls_out(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    events: list[progress.Event] = []
    release = stack.empire.deploy("acme/acme-inc:v1", by=stack.user, progress=events.append)
    assert release.outcome is Outcome.SUCCEEDED
    phase_lines = [e.line for e in events if isinstance(e, progress.PhaseOutput)]
    assert phase_lines == ["migrating", "done"]
    created = next(i for i, e in enumerate(events) if isinstance(e, progress.ReleaseCreated))
    first_line = next(i for i, e in enumerate(events) if isinstance(e, progress.PhaseOutput))
    assert created < first_line  # the release exists, then its phase runs
    kept = stack.empire.release("acme-inc", "1", by=stack.user)
    assert (kept.phase, kept.phase_output) == ("succeeded", "migrating\ndone")
    assert [p[1] for p in stack.scheduler.phases] == [1]
    # The release phase is no process of the app.
    assert [p.name for p in stack.empire.formation("acme-inc", by=stack.user)] == ["web"]
    with pytest.raises(Invalid, match="release is the release phase"):
        stack.empire.scale("acme-inc", [ScaleUpdate("release", 1)], by=stack.user)
    manifest = stack.scheduler.manifests[release.app_id]
    assert [p.name for p in manifest.processes] == ["web"]


def test_every_release_runs_it_with_its_own_config(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.set_config("acme-inc", {"DATABASE": "db2"}, by=stack.user)
    assert stack.empire.release("acme-inc", "2", by=stack.user).phase_output == (
        "migrating db2\ndone"
    )
    rolled = stack.empire.rollback("acme-inc", "1", by=stack.user)
    assert rolled.version == 3 and rolled.outcome is Outcome.SUCCEEDED
    assert stack.empire.release("acme-inc", "3", by=stack.user).phase_output == "migrating\ndone"
    assert [p[1] for p in stack.scheduler.phases] == [1, 2, 3]
    # A scale is no new release: no phase. Nor is submitting the same release again.
    stack.empire.scale("acme-inc", [ScaleUpdate("web", 2)], by=stack.user)
    stack.empire.set_maintenance("acme-inc", True, by=stack.user)
    stack.empire.set_maintenance("acme-inc", False, by=stack.user)
    stack.empire.rename("acme-inc", "acme-shop", by=stack.user)
    assert [p[1] for p in stack.scheduler.phases] == [1, 2, 3]
    assert stack.scheduler.manifests[rolled.app_id].release == 3


def test_a_failing_phase_fails_the_release_and_nothing_of_it_starts(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    first = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.images.add("acme/acme-inc:v2", procfile=BROKEN)
    events: list[progress.Event] = []
    failed = stack.empire.deploy("acme/acme-inc:v2", by=stack.user, progress=events.append)

    assert failed.outcome is Outcome.FAILED
    assert failed.reason.startswith("the release phase exited with code 3")
    assert "step 1 | step 2" in failed.reason
    assert isinstance(events[-1], progress.Failed) and "exited with code 3" in events[-1].reason
    kept = stack.empire.release("acme-inc", "2", by=stack.user)
    assert (kept.phase, kept.phase_output) == ("failed", "step 1\nstep 2")
    # v1 still runs: v2 was never submitted.
    assert stack.scheduler.manifests[first.app_id].release == 1
    info = stack.empire.app("acme-inc", by=stack.user)
    assert info.name == "acme-inc"
    current = [r for r in stack.empire.releases("acme-inc", _page(), by=stack.user) if r.current]
    assert [r.version for r in current] == [1]


@pytest.mark.parametrize(
    ("phase", "output", "reason"),
    [
        ("running", "", "interrupted"),  # Empire died during the phase
        ("failed", "step 1\nboom", "the release phase failed; its last lines: step 1 | boom"),
    ],
)
def test_a_phase_that_began_is_never_run_again_and_nothing_of_it_starts(
    stack: Stack, phase: str, output: str, reason: str
) -> None:
    """The store holds a release whose phase ran (or began) but has no verdict yet: neither
    the reconciler nor a resubmit (maintenance) runs the phase again or rolls it out."""
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    first = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.images.add("acme/acme-inc:v2", procfile=OK)
    release = first
    with stack.store.write() as tx:
        app = tx.app(first.app_id)
        assert app is not None
        release = stack.empire._new_release(
            tx,
            app,
            slug=first.slug,
            config=first.config,
            formation=first.formation,
            description="Deploy v2",
            by=stack.user,
            message=None,
        )
        tx.set_phase(release.id, phase, output, stack.clock())
    stack.empire.set_maintenance("acme-inc", False, by=stack.user)  # a resubmit
    stack.empire.reconcile()
    ended = stack.empire.release("acme-inc", str(release.version), by=stack.user)
    assert ended.outcome is Outcome.FAILED
    assert reason in ended.reason
    assert [p[1] for p in stack.scheduler.phases] == [1]  # v1's only
    assert stack.scheduler.manifests[first.app_id].release == 1


class Phase:
    """Stands in for the scheduler's release_phase: prints `lines`, then ends with `code`
    (None: still running at the timeout, and stopped). It notes the timeouts it was given."""

    def __init__(self, lines: list[str], code: int | None) -> None:
        self.lines, self.code = lines, code
        self.timeouts: list[float] = []

    def __call__(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        self.timeouts.append(timeout)
        for line in self.lines:
            output(line)
        return PhaseResult(self.code, tuple(self.lines[-20:]))


def test_a_phase_still_running_at_the_timeout_fails_the_release_and_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(tmp_path, env={"EMPIRE_RELEASE_TIMEOUT": "90"})
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    first = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    assert first.outcome is Outcome.SUCCEEDED
    phase = Phase(["migrating", "table 7 of 9"], None)
    monkeypatch.setattr(stack.scheduler, "release_phase", phase)
    stack.images.add("acme/acme-inc:v2", procfile=BROKEN)
    events: list[progress.Event] = []
    stuck = stack.empire.deploy(
        "acme/acme-inc:v2", by=stack.user, progress=events.append, stream=True
    )

    reason = (
        "the release phase was still running after 90s (EMPIRE_RELEASE_TIMEOUT) and was "
        "stopped; its last lines: migrating | table 7 of 9"
    )
    assert phase.timeouts == [90.0]  # the setting reaches the scheduler
    assert (stuck.version, stuck.outcome, stuck.reason) == (2, Outcome.FAILED, reason)
    assert events[-1] == progress.Failed(f"release v2 of acme-inc failed: {reason}")
    statuses = [e.text for e in events if isinstance(e, progress.Status)]
    assert statuses[-3:-1] == [
        "release phase: running `sh -c echo step 1; echo step 2; exit 3`",
        reason,
    ]
    kept = stack.empire.release("acme-inc", "2", by=stack.user)
    assert (kept.phase, kept.phase_output) == ("failed", "migrating\ntable 7 of 9")
    # Nothing of v2 started: v1 still runs, and stays the current release.
    assert stack.scheduler.manifests[first.app_id].release == 1
    current = [r for r in stack.empire.releases("acme-inc", _page(), by=stack.user) if r.current]
    assert [r.version for r in current] == [1]
    stack.empire.reconcile()  # nor does the reconciler roll v2 out, or run its phase again
    assert stack.scheduler.manifests[first.app_id].release == 1
    assert phase.timeouts == [90.0]


def test_a_first_release_stuck_in_its_phase_starts_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.scheduler, "release_phase", Phase([], None))
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    stuck = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    assert stuck.outcome is Outcome.FAILED
    assert stuck.reason == (  # the default timeout, and no lines to quote
        "the release phase was still running after 3600s (EMPIRE_RELEASE_TIMEOUT) and was stopped"
    )
    assert stuck.app_id not in stack.scheduler.manifests


def test_the_phase_output_kept_on_the_release_is_bounded(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last PHASE_LINES lines are kept, each cut at PHASE_LINE characters; the reason
    quotes the last PHASE_TAIL of them, shorter still. The live stream has every line."""
    lines = [f"line {n}" for n in range(PHASE_LINES + 50)]
    lines[60] = "a" * (PHASE_LINE + 1)  # within the kept lines
    lines[-1] = "z" * (PHASE_LINE * 3)
    monkeypatch.setattr(stack.scheduler, "release_phase", Phase(lines, 1))
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    events: list[progress.Event] = []
    failed = stack.empire.deploy("acme/acme-inc:v1", by=stack.user, progress=events.append)

    streamed = [e.line for e in events if isinstance(e, progress.PhaseOutput)]
    assert len(streamed) == len(lines) and streamed[:2] == ["line 0", "line 1"]
    kept = stack.empire.release("acme-inc", "1", by=stack.user).phase_output.split("\n")
    assert len(kept) == PHASE_LINES
    assert kept == [line[:PHASE_LINE] for line in lines[-PHASE_LINES:]]
    assert kept[0] == "line 50" and kept[10] == "a" * PHASE_LINE
    assert kept[-1] == "z" * PHASE_LINE
    tail = " | ".join(line[:200] for line in lines[-PHASE_TAIL:])
    assert failed.reason == f"the release phase exited with code 1; its last lines: {tail}"
    assert failed.reason.endswith(" | " + "z" * 200)


def _page():  # type: ignore[no-untyped-def]
    from empire.model import Page

    return dataclasses.replace(Page(field="version"), max=100)


def test_the_release_command_runs_again_by_hand_as_a_one_off(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=OK)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    _, task = stack.empire.run("acme-inc", RunRequest("release --verbose"), by=stack.user)
    assert task.process == "run"
    assert task.command == "sh -c echo migrating $DATABASE; echo done --verbose"
    assert [p[1] for p in stack.scheduler.phases] == [1]  # the phase itself ran once
