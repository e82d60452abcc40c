"""Transcripts: releases, release-info, rollback."""

from __future__ import annotations

import json

from empire.model import Outcome
from empire.scheduler import Verdict
from support.stack import FrozenClock, Stack

from .conftest import Emp


def test_releases(acme: Emp, clock: FrozenClock) -> None:
    clock.advance(minutes=3)
    acme("set", "FOO=bar")
    clock.advance(days=1)
    acme("rollback", "v1")
    assert acme("releases") == (
        0,
        "v1  alice  Nov 26 10:00  Deploy remind101/acme-inc:v1 (alice)\n"
        "v2  alice  Nov 26 10:03  Set FOO config var (alice)\n"
        "v3  alice  Nov 27 10:03  Rollback to v1 (alice)\n",
        "",
    )
    assert acme("releases", "-n", "2") == (
        0,
        "v2  alice  Nov 26 10:03  Set FOO config var (alice)\n"
        "v3  alice  Nov 27 10:03  Rollback to v1 (alice)\n",
        "",
    )
    assert acme("releases", "v3", "1") == (
        0,
        "v1  alice  Nov 26 10:00  Deploy remind101/acme-inc:v1 (alice)\n"
        "v3  alice  Nov 27 10:03  Rollback to v1 (alice)\n",
        "",
    )


def test_releases_abbreviate_authors(acme: Emp, stack: Stack) -> None:
    _, token = stack.empire.create_user("bartholomew", email="bartholomew@other.org")
    stack.empire.grant("acme", "bartholomew", "deployer", by=stack.user)
    url = f"http://bartholomew:{token}@127.0.0.1:8080"
    acme("set", "A=1", "-m", "first")
    acme("set", "B=2", env={"EMPIRE_API_URL": url})
    carol, token = stack.empire.create_user("carol")  # the server makes up an e-mail
    stack.empire.grant("acme", "carol", "deployer", by=stack.user)
    acme("set", "C=3", env={"EMPIRE_API_URL": f"http://:{token}@127.0.0.1:8080"})
    assert acme("releases") == (
        0,
        "v1  alice       Nov 26 10:00  Deploy remind101/acme-inc:v1 (alice)\n"
        "v2  alice       Nov 26 10:00  Set A config var (alice: 'first')\n"
        "v3  bartholom…  Nov 26 10:00  Set B config var (bartholomew)\n"
        "v4  carol@emp…  Nov 26 10:00  Set C config var (carol)\n",
        "",
    )
    assert acme("release-info", "v4").out.splitlines()[1] == f"By:       {carol.email}"


def test_releases_json(acme: Emp) -> None:
    code, out, _ = acme("releases", "--json")
    releases = json.loads(out)
    assert code == 0
    assert [(r["version"], r["outcome"]) for r in releases] == [(1, "succeeded")]


def test_releases_mark_failed_and_rolled_back_ones_at_the_end(acme: Emp, stack: Stack) -> None:
    """Empire's columns stay as they were (scripts read them); the mark ends the line, and
    --json carries status and outcome (issue 14 item 5)."""
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web never became healthy"))
    assert acme("deploy", "remind101/acme-inc:v2").code == 1
    stack.scheduler.fail_next(Verdict(Outcome.FAILED, "the engine refused"))
    acme("set", "FOO=bar")
    acme("set", "FOO=baz")
    assert acme("releases") == (
        0,
        "v1  alice  Nov 26 10:00  Deploy remind101/acme-inc:v1 (alice)\n"
        "v2  alice  Nov 26 10:00  Deploy remind101/acme-inc:v2 (alice) (rolled back)\n"
        "v3  alice  Nov 26 10:00  Set FOO config var (alice) (failed)\n"
        "v4  alice  Nov 26 10:00  Set FOO config var (alice)\n",
        "",
    )
    releases = json.loads(acme("releases", "--json").out)
    assert [(r["version"], r["status"], r["outcome"]) for r in releases] == [
        (1, "succeeded", "succeeded"),
        (2, "failed", "rolled_back"),
        (3, "failed", "failed"),
        (4, "succeeded", "succeeded"),
    ]
    assert releases[1]["outcome_reason"] == "web never became healthy"


def test_releases_of_an_unknown_app(emp: Emp) -> None:
    assert emp("releases", "-a", "nope") == (
        1,
        "",
        "error: Couldn't find that app: no app named nope\n",
    )


def test_releases_with_a_bad_limit(acme: Emp) -> None:
    code, out, err = acme("releases", "-n", "many")
    assert (code, out) == (2, "")
    assert err.startswith("error: Invalid value for '-n' / '--number': 'many' is not a valid")
    assert err.endswith(
        "Usage: emp releases [-a <app or remote>] [-n <limit>] [<version>...]\n"
        "Use 'emp help releases' for more information.\n"
    )


def test_release_info(acme: Emp, stack: Stack) -> None:
    release = stack.empire.release("acme", "1", by=stack.user)
    assert acme("release-info", "v1") == (
        0,
        "Version:  v1\n"
        "By:       alice@example.com\n"
        "Change:   Deploy remind101/acme-inc:v1 (alice)\n"
        "When:     2026-11-26T10:00:00Z\n"
        f"Id:       {release.id}\n"
        f"Slug:     {release.slug.id}\n",
        "",
    )
    assert json.loads(acme("release-info", "1", "--json").out)["id"] == release.id


def test_release_info_unknown(acme: Emp) -> None:
    assert acme("release-info", "v9") == (
        1,
        "",
        "error: Couldn't find that release: acme has no release 9\n",
    )
    assert acme("release-info") == (
        2,
        "",
        "Usage: emp release-info [-a <app or remote>] <version>\n"
        "Use 'emp help release-info' for more information.\n",
    )


def test_rollback(acme: Emp) -> None:
    acme("set", "FOO=bar")
    assert acme("rollback", "v1") == (0, "", "Rolled back acme to v1 as v3.\n")
    assert acme("rollback", "2", "-m", "undo") == (0, "", "Rolled back acme to v2 as v4.\n")
    assert acme("env") == (0, "FOO=bar\n", "")


def test_rollback_to_an_unknown_version(acme: Emp) -> None:
    assert acme("rollback", "v7") == (
        1,
        "",
        "error: Couldn't find that release: acme has no release 7\n",
    )
    assert acme("rollback", "latest") == (
        1,
        "",
        "error: invalid version 'latest': use a release version such as v4\n",
    )


def _eleven_releases(acme: Emp) -> None:
    for n in range(10):
        acme("set", f"N={n}")


def test_rollback_ten_versions_back_needs_confirmation(acme: Emp) -> None:
    _eleven_releases(acme)
    assert acme("rollback", "v1") == (
        1,
        "",
        "error: confirmation required: type v1 or pass --confirm v1\n",
    )
    assert acme("rollback", "v1", stdin="v2\n") == (
        1,
        "",
        'error: Confirmation did not match "v1".\n',
    )
    assert acme("rollback", "v2") == (0, "", "Rolled back acme to v2 as v12.\n")  # 9 back
    assert acme("rollback", "v1", "--confirm", "v1") == (
        0,
        "",
        "Rolled back acme to v1 as v13.\n",
    )


def test_rollback_confirmation_on_a_terminal(acme: Emp) -> None:
    _eleven_releases(acme)
    assert acme("rollback", "1", stdin="v1\n", tty=True) == (
        0,
        "> ",
        "warning: This will roll back acme 10 versions, from v11 to v1. "
        'Please type "v1" to continue:\n'
        "Rolled back acme to v1 as v12.\n",
    )


def test_rollback_that_does_not_roll_out_fails(acme: Emp, stack: Stack) -> None:
    acme("set", "FOO=bar")
    stack.scheduler.fail_next(Verdict(Outcome.ROLLED_BACK, "web never became healthy"))
    assert acme("rollback", "v1") == (  # no "Rolled back" before the error
        1,
        "",
        "error: release v3 of acme was rolled back: web never became healthy\n",
    )
