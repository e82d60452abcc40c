"""Deploys, config, rollbacks and scaling through the facade."""

from __future__ import annotations

import pytest

from empire import progress, sizes
from empire.errors import ImageNotFound, Invalid, InvalidImage, InvalidProcfile, NotFound
from empire.model import Outcome, Page, RunRequest, ScaleUpdate
from empire.scheduler import Verdict
from support.stack import Stack

PROCFILE = b"""
web:
  command: ./bin/web
  healthcheck: /health
worker:
  command: ./bin/worker
migrate:
  command: ./bin/migrate
  noservice: true
"""


def versions(stack: Stack, app: str = "acme-inc") -> list[int]:
    return [r.version for r in stack.empire.releases(app, Page(field="version"), by=stack.user)]


def test_deploy_creates_the_app_and_release_v1(stack: Stack) -> None:
    events: list[progress.Event] = []
    release = stack.empire.deploy(
        "remind101/acme-inc:latest", by=stack.user, message="first", progress=events.append
    )
    assert release.version == 1
    assert release.description == "Deploy remind101/acme-inc:latest (alice: 'first')"
    assert release.outcome is Outcome.SUCCEEDED
    assert release.slug.image.startswith("remind101/acme-inc@sha256:")
    # typed events, in order: the pull, what was resolved and read, the release, the verdict
    assert isinstance(events[0], progress.Pulled)
    assert events[1:] == [
        progress.Status(f"Resolved remind101/acme-inc:latest to {release.slug.image}"),
        progress.Status('Extracted Procfile from "/app/Procfile"'),
        progress.ReleaseCreated(1, "acme-inc"),
        progress.Status("Finished processing events for release v1 of acme-inc"),
        progress.Status("Release v1 of acme-inc succeeded"),
    ]
    assert stack.empire.app("acme-inc", by=stack.user).repo == "remind101/acme-inc"
    web = release.formation["web"]
    assert web.quantity == 1 and web.command == ("./bin/web",)


def test_formation_merge_keeps_quantities_and_sizes(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=PROCFILE)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.scale("acme-inc", [ScaleUpdate("worker", 3, sizes.parse("2X"))], by=stack.user)
    stack.images.add("acme/acme-inc:v2", procfile=b"web: ./bin/web2\nworker: ./bin/worker2\n")
    release = stack.empire.deploy("acme/acme-inc:v2", by=stack.user)
    assert set(release.formation) == {"web", "worker"}
    assert release.formation["worker"].quantity == 3
    assert release.formation["worker"].size == sizes.parse("2X")
    assert release.formation["web"].command == ("./bin/web2",)


def test_config_changes_make_releases_once_released(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    stack.empire.set_config("acme-inc", {"EARLY": "1"}, by=stack.user)
    assert versions(stack) == []
    stack.empire.deploy("acme/acme-inc:v1", app="acme-inc", by=stack.user)
    merged = stack.empire.set_config("acme-inc", {"FOO": "bar", "BAR": ""}, by=stack.user)
    assert merged == {"EARLY": "1", "FOO": "bar", "BAR": ""}
    stack.empire.set_config("acme-inc", {"FOO": None}, by=stack.user, message="cleanup")
    releases = stack.empire.releases("acme-inc", Page(field="version"), by=stack.user)
    assert [r.description for r in releases] == [
        "Deploy acme/acme-inc:v1 (alice)",
        "Set BAR, FOO config vars (alice)",
        "Unset FOO config var (alice: 'cleanup')",
    ]
    assert stack.empire.config("acme-inc", "2", by=stack.user) == {
        "EARLY": "1",
        "FOO": "bar",
        "BAR": "",
    }
    assert stack.empire.config("acme-inc", "v3", by=stack.user) == {"EARLY": "1", "BAR": ""}
    assert stack.scheduler.manifests[releases[0].app_id].env == {"EARLY": "1", "BAR": ""}
    assert (
        str(stack.events.events[-1])
        == "alice changed environment variables on acme-inc (FOO): 'cleanup'"
    )


def test_invalid_config_keys(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    with pytest.raises(Invalid, match="invalid config var name"):
        stack.empire.set_config("acme-inc", {"1BAD": "x"}, by=stack.user)
    assert stack.empire.config("acme-inc", by=stack.user) == {}


def test_rollback_copies_image_config_and_formation(stack: Stack) -> None:
    v1 = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.set_config("acme-inc", {"FOO": "bar"}, by=stack.user)
    stack.empire.deploy("acme/acme-inc:v2", by=stack.user)
    release = stack.empire.rollback("acme-inc", "v1", by=stack.user)
    assert release.version == 4
    assert release.description == "Rollback to v1 (alice)"
    assert release.slug.image == v1.slug.image
    assert release.config.vars == {}
    assert stack.scheduler.manifests[v1.app_id].release == 4
    with pytest.raises(NotFound, match="has no release v9"):
        stack.empire.rollback("acme-inc", "v9", by=stack.user)
    assert versions(stack) == [1, 2, 3, 4]


def test_scale_keeps_quantity_without_one_and_refuses_noservice(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=PROCFILE)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.scale("acme-inc", [ScaleUpdate("web", 3)], by=stack.user)
    _, processes = stack.empire.scale(
        "acme-inc", [ScaleUpdate("web", None, sizes.parse("256:1GB"))], by=stack.user
    )
    assert processes[0].quantity == 3
    assert sizes.render(processes[0].size or sizes.DEFAULT) == "256:1.00gb"
    assert str(stack.events.events[-1]) == (
        "alice scaled `web` on acme-inc from 3(1X) to 3(256:1.00gb)"
    )
    with pytest.raises(Invalid, match="noservice"):
        stack.empire.scale("acme-inc", [ScaleUpdate("migrate", 1)], by=stack.user)
    with pytest.raises(NotFound, match="no process type 'nope'"):
        stack.empire.scale("acme-inc", [ScaleUpdate("nope", 1)], by=stack.user)
    assert versions(stack) == [1]
    tasks = stack.empire.tasks("acme-inc", by=stack.user)
    assert [t.name for t in tasks] == ["v1.web.1", "v1.web.2", "v1.web.3"]


def test_rolled_back_rollout_is_recorded(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web exited with code 1"))
    events: list[progress.Event] = []
    release = stack.empire.deploy("acme/acme-inc:v2", by=stack.user, progress=events.append)
    assert release.outcome is Outcome.ROLLED_BACK
    stored = stack.empire.release("acme-inc", "2", by=stack.user)
    assert stored.outcome is Outcome.ROLLED_BACK and stored.reason == "web exited with code 1"
    assert events[-1] == progress.Failed(
        "release v2 of acme-inc was rolled back: web exited with code 1"
    )


def test_bad_images_and_procfiles_leave_nothing(stack: Stack) -> None:
    with pytest.raises(InvalidImage):
        stack.empire.deploy("Acme/API:v1", by=stack.user)
    stack.images.accept_any = False
    with pytest.raises(ImageNotFound):
        stack.empire.deploy("acme/missing:v1", by=stack.user)
    stack.images.add("acme/broken:v1", procfile=b"web: [unclosed\n")
    with pytest.raises(InvalidProcfile):
        stack.empire.deploy("acme/broken:v1", by=stack.user)
    stack.images.add("acme/nocmd:v1", procfile=b"worker:\n  noservice: true\n")
    with pytest.raises(InvalidProcfile, match="no command"):
        stack.empire.deploy("acme/nocmd:v1", by=stack.user)
    assert stack.empire.apps(Page(field="name"), by=stack.user) == []


def test_run_uses_a_procfile_process_or_the_literal_command(stack: Stack) -> None:
    stack.images.add("acme/acme-inc:v1", procfile=PROCFILE)
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    _, task = stack.empire.run("acme-inc", RunRequest("migrate --all"), by=stack.user)
    assert task.command == "./bin/migrate --all" and task.process == "migrate"
    _, task = stack.empire.run("acme-inc", RunRequest("echo 'hi there'"), by=stack.user)
    assert task.command == "echo hi there" and task.process == "run"
    assert str(stack.events.events[-1]) == (
        "alice started running `echo 'hi there'` (detached) on acme-inc"
    )


def test_restart_whole_app_or_one_process(stack: Stack) -> None:
    release = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.restart("acme-inc", by=stack.user)
    stack.empire.restart("acme-inc", "web", by=stack.user)
    assert stack.scheduler.restarts == [(release.app_id, None), (release.app_id, "web")]
    with pytest.raises(NotFound):
        stack.empire.restart("acme-inc", "nope", by=stack.user)


def test_rollback_restores_the_current_config(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.set_config("acme-inc", {"FOO": "bar"}, by=stack.user)
    stack.empire.rollback("acme-inc", "1", by=stack.user)
    assert stack.empire.config("acme-inc", by=stack.user) == {}
    stack.empire.set_config("acme-inc", {"BAZ": "1"}, by=stack.user)
    assert stack.empire.config("acme-inc", by=stack.user) == {"BAZ": "1"}


def test_a_rolled_back_release_never_becomes_current(stack: Stack) -> None:
    v1 = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web never became healthy"))
    stack.empire.deploy("acme/acme-inc:v2", by=stack.user)
    assert stack.empire.release("acme-inc", "1", by=stack.user).current
    assert not stack.empire.release("acme-inc", "2", by=stack.user).current
    stack.empire.scale("acme-inc", [ScaleUpdate("web", 2)], by=stack.user)
    assert stack.empire.release("acme-inc", "1", by=stack.user).formation["web"].quantity == 2
    stack.empire.reconcile()
    manifest = stack.scheduler.manifests[v1.app_id]
    assert manifest.release == 1 and manifest.image == v1.slug.image
    release = stack.empire.set_config("acme-inc", {"A": "1"}, by=stack.user)
    assert release == {"A": "1"}
    assert stack.empire.release("acme-inc", "3", by=stack.user).slug.image == v1.slug.image


def test_a_superseded_release_is_not_rolled_out(stack: Stack) -> None:
    from empire.model import User

    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    app = stack.empire.app("acme-inc", by=stack.user)
    v1 = stack.empire.release("acme-inc", "1", by=stack.user)
    stack.empire.deploy("acme/acme-inc:v2", by=stack.user)
    late = stack.empire._submit(app, v1)  # a rollout of v1 that only got its turn now
    assert late.outcome is Outcome.FAILED and "superseded by v2" in late.reason
    assert stack.scheduler.manifests[app.id].release == 2
    assert isinstance(stack.user, User)


def test_reconcile_finishes_a_rollout_empire_stopped_in(stack: Stack) -> None:
    """A release committed but never submitted (a crash) is rolled out and gets its verdict."""
    v1 = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    app = stack.empire.app("acme-inc", by=stack.user)
    with stack.store.write() as tx:  # what a deploy leaves when Empire dies before submitting
        release = stack.empire._new_release(
            tx,
            app,
            slug=v1.slug,
            config=v1.config,
            formation=v1.formation,
            description="Deploy acme/acme-inc:v2 (alice)",
            by=stack.user,
            message=None,
        )
    assert stack.empire.release("acme-inc", "2", by=stack.user).outcome is Outcome.PENDING
    assert stack.empire.reconcile() == 1
    assert stack.scheduler.manifests[app.id].release == 2
    assert (
        stack.empire.release("acme-inc", str(release.version), by=stack.user).outcome
        is Outcome.SUCCEEDED
    )
