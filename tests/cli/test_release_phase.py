"""Transcripts: the release phase. A Procfile's `release` runs once per new release, before any
process of it starts; when it fails, so does the release, and emp says why and exits 1."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from empire.scheduler import Manifest, ManifestProcess, PhaseResult
from support.stack import Stack

from .conftest import Emp

PROCFILE = b"web: ./bin/web\nworker: ./bin/worker\nrelease: sh -c 'echo migrating $X; echo done'\n"
# Seven lines, then exit 3: the reason quotes the last five.
BROKEN = (
    b"web: ./bin/web\nworker: ./bin/worker\n"
    b"release: sh -c 'echo one; echo two; echo three; echo four; echo five; echo six; "
    b"echo seven; exit 3'\n"
)
BROKEN_REASON = (
    "the release phase exited with code 3; its last lines: three | four | five | six | seven"
)
NOT_SCALED = (
    "error: release is the release phase: it runs once per release, before the release's "
    "processes start, and is not scaled\n"
)


@pytest.fixture
def shop(emp: Emp, stack: Stack) -> Emp:
    """App acme-inc deployed once with a release phase that passes (v1), and EMPAPP=acme-inc."""
    stack.images.add("remind101/acme-inc:v1", PROCFILE)
    stack.images.add("remind101/acme-inc:v2", BROKEN)
    code, out, err = emp("deploy", "remind101/acme-inc:v1")
    assert (code, err) == (0, "")
    assert out.endswith(
        "Status: Created new release v1 for acme-inc\n"
        "migrating\n"
        "done\n"
        "Status: Finished processing events for release v1 of acme-inc\n"
        "Status: Release v1 of acme-inc succeeded\n"
    )
    emp.env["EMPAPP"] = "acme-inc"
    return emp


def _fail_when_x_is_1(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fake's release phase exit 1 for a release whose config has X=1: a failing
    migration that a config change brings (the fake's `exit` takes no $VAR)."""
    run = stack.scheduler.release_phase

    def release_phase(
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        if process.env.get("X") != "1":
            return run(manifest, process, timeout=timeout, output=output)
        stack.scheduler.phases.append((manifest.app_id, manifest.release, process.shown))
        output("migrating 1")
        output("error: X=1 is no database")
        return PhaseResult(1, ("migrating 1", "error: X=1 is no database"))

    monkeypatch.setattr(stack.scheduler, "release_phase", release_phase)


def test_a_deploy_whose_release_phase_fails_exits_1_and_says_why(shop: Emp, stack: Stack) -> None:
    code, out, err = shop("deploy", "remind101/acme-inc:v2")
    assert code == 1
    assert out.endswith(
        "Status: Created new release v2 for acme-inc\n"
        "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"
        "Status: Finished processing events for release v2 of acme-inc\n"
    )
    assert "succeeded" not in out
    assert err == f"error: release v2 of acme-inc failed: {BROKEN_REASON}\n"
    # Nothing of v2 started: v1's processes still run.
    assert [p[1] for p in stack.scheduler.phases] == [1, 2]
    assert shop("ps") == (0, 'v1.web.1  fake  1X  up   0s  "./bin/web"\n', "")
    assert shop("releases").out.splitlines()[-1] == (
        "v2  alice  Nov 26 10:00  Deploy remind101/acme-inc:v2 (alice) (failed)"
    )


def test_a_streamed_deploy_shows_the_phase_running_and_why_it_failed(shop: Emp) -> None:
    code, out, err = shop("deploy", "-s", "remind101/acme-inc:v2")
    assert (code, err) == (1, f"error: release v2 of acme-inc failed: {BROKEN_REASON}\n")
    assert out.endswith(
        "Status: Created new release v2 for acme-inc\n"
        "Status: release phase: running `sh -c echo one; echo two; echo three; echo four; "
        "echo five; echo six; echo seven; exit 3`\n"
        "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"
        f"Status: {BROKEN_REASON}\n"
        "Status: Finished processing events for release v2 of acme-inc\n"
    )


def test_set_whose_release_phase_fails_exits_1_and_says_why(
    shop: Emp, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_when_x_is_1(stack, monkeypatch)
    why = (
        "error: release v2 of acme-inc failed: the release phase exited with code 1; its "
        "last lines: migrating 1 | error: X=1 is no database\n"
    )
    assert shop("set", "X=1") == (1, "", why)  # no "Set env vars" before the error
    assert shop("env-load", "-", stdin="X=1\n") == (1, "", why.replace("v2", "v3"))
    assert shop("unset", "X") == (0, "", "Unset env vars and restarted acme-inc.\n")
    assert shop("set", "X=2") == (0, "", "Set env vars and restarted acme-inc.\n")
    assert [p[1] for p in stack.scheduler.phases] == [1, 2, 3, 4, 5]
    assert shop("release-info", "v5").out.endswith(
        "Release phase: succeeded\n    migrating 2\n    done\n"
    )
    assert shop("ps").out.startswith("v5.web.1  ")


def test_release_info_shows_the_phase_and_its_output(shop: Emp, stack: Stack) -> None:
    shop("deploy", "remind101/acme-inc:v2")
    v1 = stack.empire.release("acme-inc", "1", by=stack.user)
    v2 = stack.empire.release("acme-inc", "2", by=stack.user)
    assert shop("release-info", "v1") == (
        0,
        "Version:  v1\n"
        "By:       alice@example.com\n"
        "Change:   Deploy remind101/acme-inc:v1 (alice)\n"
        "When:     2026-11-26T10:00:00Z\n"
        f"Id:       {v1.id}\n"
        f"Slug:     {v1.slug.id}\n"
        "Release phase: succeeded\n"
        "    migrating\n"
        "    done\n",
        "",
    )
    assert shop("release-info", "v2") == (
        0,
        "Version:  v2\n"
        "By:       alice@example.com\n"
        "Change:   Deploy remind101/acme-inc:v2 (alice)\n"
        "When:     2026-11-26T10:00:00Z\n"
        f"Id:       {v2.id}\n"
        f"Slug:     {v2.slug.id}\n"
        f"Status:   failed ({BROKEN_REASON})\n"
        "Release phase: failed\n"
        "    one\n    two\n    three\n    four\n    five\n    six\n    seven\n",
        "",
    )
    shown = json.loads(shop("release-info", "v2", "--json").out)
    assert (shown["release_phase"], shown["outcome"]) == ("failed", "failed")
    assert shown["outcome_reason"] == BROKEN_REASON


def test_ps_and_scale_never_list_release_and_it_cannot_be_scaled(shop: Emp, stack: Stack) -> None:
    assert shop("scale", "release=1") == (1, "", NOT_SCALED)
    assert shop("scale", "web=2", "release=1:2X") == (1, "", NOT_SCALED)
    assert shop("scale", "release=0") == (1, "", NOT_SCALED)
    assert shop("scale", "worker=2") == (0, "", "Scaled acme-inc to worker=2:1X.\n")
    assert shop("ps") == (  # web=2 did not happen
        0,
        'v1.web.1     fake  1X  up   0s  "./bin/web"\n'
        'v1.worker.1  fake  1X  up   0s  "./bin/worker"\n'
        'v1.worker.2  fake  1X  up   0s  "./bin/worker"\n',
        "",
    )
    assert [d["name"] for d in json.loads(shop("ps", "--json").out)] == [
        "v1.web.1",
        "v1.worker.1",
        "v1.worker.2",
    ]
    assert shop("scale", "-l") == (0, "", "web=1:1X worker=2:1X\n")
    assert [f["type"] for f in json.loads(shop("scale", "-l", "--json").out)] == [
        "web",
        "worker",
    ]
    assert [p[1] for p in stack.scheduler.phases] == [1]  # a scale runs no phase
