"""Releases: releases, release-info, rollback."""

from __future__ import annotations

from collections import Counter

from emp.output import abbrev, parse_time, pretty_time
from emp.registry import check_args, command, option
from emp.session import Fail, Session
from emp.transport import JSON

CONFIRM_ROLLBACK_AT = 10  # versions back


@command(
    "releases [-n <limit>] [<version>...]",
    "list releases",
    """
Lists releases. Shows the version of the release (e.g. v1), who
made the release, time of the release, and description. A release
whose rollout failed ends with (failed), one that was rolled back
with (rolled back); --json carries "status" and "outcome".

Options:

    -n <limit>  maximum number of recent releases to display (default 20)

Examples:

    $ emp releases
    v1  bob    Jun 12 18:28  Deploy remind101/acme-inc:latest (bob)
    v2  john   Jun 13 18:14  Set FOO config var (john)
    v3  john   Jun 13 18:31  Rollback to v1 (john)
    v4  john   Jun 13 18:40  Deploy remind101/acme-inc:bad (john) (rolled back)

    $ emp releases 1 3
    v1  bob    Jun 12 18:28  Deploy remind101/acme-inc:latest (bob)
    v3  john   Jun 13 18:31  Rollback to v1 (john)
""",
    app="needs",
    json=True,
    options=[option("-n", "--number", default=20, type=int)],
)
def releases(s: Session, args: tuple[str, ...], number: int) -> None:
    """List releases, oldest first."""
    name = s.app()
    if args:
        items = [s.client.release(name, v.removeprefix("v")) for v in args if v]
    else:
        items = s.client.releases(name, max(number, 1))
    items.sort(key=lambda r: int(r.get("version") or 0))
    if s.json:
        s.print_json(items)
        return
    now = s.io.now()
    who = _who(items)
    rows = []
    for release, author in zip(items, who, strict=True):
        when = parse_time(release.get("created_at"))
        rows.append(
            [
                f"v{release.get('version')}",
                abbrev(author, 10),
                pretty_time(when, now) if when else "",
                str(release.get("description") or "") + _mark(release),
            ]
        )
    s.table(rows)


_MARKS = {"failed": " (failed)", "rolled_back": " (rolled back)"}


def _mark(release: JSON) -> str:
    """Return the mark of a release whose rollout did not succeed, for the end of its line
    (Empire's columns stay as they were: scripts read them)."""
    return _MARKS.get(str(release.get("outcome") or ""), "")


def _author(release: JSON) -> str:
    """Return who made a release: the user's e-mail, else their name."""
    user = release.get("user") or {}
    return str(user.get("email") or user.get("name") or "")


def _who(items: list[JSON]) -> list[str]:
    """Return each release's author, without the most common e-mail @domain."""
    emails = [_author(r) for r in items]
    domains = Counter("@" + e.split("@", 1)[1] for e in emails if "@" in e)
    if not domains:
        return emails
    common = domains.most_common(1)[0][0]
    return [e[: -len(common)] if e.endswith(common) else e for e in emails]


@command(
    "release-info <version>",
    "show release info",
    """
release-info shows detailed information about a release.

Examples:

    $ emp release-info v116
    Version:  v116
    By:       user@test.com
    Change:   Deploy remind101/acme-inc:latest (user)
    When:     2014-01-13T21:20:57Z
    Id:       abcd1234-5678-def0-8190-12347060474d
    Slug:     98765432-82ba-10ba-fedc-8d206789d062
""",
    app="needs",
    json=True,
)
def release_info(s: Session, args: tuple[str, ...]) -> None:
    """Show one release."""
    check_args(args, 1, 1)
    release = s.client.release(s.app(), args[0].removeprefix("v"))
    if s.json:
        s.print_json(release)
        return
    when = parse_time(release.get("created_at"))
    s.out(f"Version:  v{release.get('version')}")
    s.out(f"By:       {_author(release)}")
    s.out(f"Change:   {release.get('description') or ''}")
    s.out(f"When:     {when.strftime('%Y-%m-%dT%H:%M:%SZ') if when else ''}")
    s.out(f"Id:       {release.get('id') or ''}")
    slug = release.get("slug") or {}
    if slug:
        s.out(f"Slug:     {slug.get('id') or ''}")
    status = release.get("outcome") or ""
    if status and status != "succeeded":  # Empire's own lines stay as they were otherwise
        reason = release.get("outcome_reason") or ""
        s.out(f"Status:   {status}{f' ({reason})' if reason else ''}")
    phase = release.get("release_phase")
    if phase and phase != "none":
        s.out(f"Release phase: {phase}")
        for line in s.client.release_output(s.app(), str(release.get("version"))).splitlines():
            s.out(f"    {line}")


@command(
    "rollback <version>",
    "roll back to a previous release",
    """
Rollback re-releases an app at an older version. This action
creates a new release based on the older release, then restarts
the app's dynos on the new release. Rolling back ten or more
versions asks for confirmation: type the version, or pass it
with --confirm.

Examples:

    $ emp rollback v4
    Rolled back myapp to v4 as v7.
""",
    app="needs",
    message=True,
    options=[option("--confirm")],
)
def rollback(s: Session, args: tuple[str, ...], confirm: str | None) -> None:
    """Make a new release from an old one."""
    check_args(args, 1, 1)
    name = s.app()
    version = args[0].removeprefix("v")
    if not version.isdigit():
        raise Fail(f"invalid version {args[0]!r}: use a release version such as v4")
    latest = s.client.releases(name, 1)
    current = int(latest[0].get("version") or 0) if latest else 0
    if current - int(version) >= CONFIRM_ROLLBACK_AT:
        warning = (
            f"This will roll back {name} {current - int(version)} versions, from v{current} "
            f'to v{version}. Please type "v{version}" to continue:'
        )
        given = None if confirm is None else "v" + confirm.removeprefix("v")
        s.confirm(warning, f"v{version}", given)
    release = s.write(lambda message: s.client.rollback(name, version, message))
    verdict(name, release)
    s.err(f"Rolled back {name} to v{version} as v{release.get('version')}.")


def verdict(app: str, release: JSON) -> None:
    """Fail when the new release's rollout did not succeed."""
    outcome = release.get("outcome")
    if outcome in ("failed", "rolled_back"):
        ended = "was rolled back" if outcome == "rolled_back" else "failed"
        reason = release.get("outcome_reason") or "no reason given"
        raise Fail(f"release v{release.get('version')} of {app} {ended}: {reason}")
