"""`emp builds`: an app's builds from source."""

from __future__ import annotations

from datetime import datetime

from emp.output import parse_time, pretty_time
from emp.registry import command
from emp.session import Session


@command(
    "builds",
    "list builds from source",
    """
Lists an app's builds from source (git push, emp deploy DIR), newest
first: the build's id, its status (pending, succeeded, failed), the
commit built, the release it made, who and when.

Examples:

    $ emp builds -a acme-inc
    4f6b2a1c  succeeded  1a2b3c4  v3  bob  Jun 12 18:28
    9e1d0c7b  failed     5d6e7f8  -   bob  Jun 12 18:20
""",
    app="needs",
    json=True,
)
def builds(s: Session, args: tuple[str, ...]) -> None:
    """List builds, newest first."""
    items = s.client.builds(s.app())
    if s.json:
        s.print_json(items)
        return
    now = s.io.now()
    rows = []
    for build in items:
        release = build.get("release") or {}
        source = build.get("source_blob") or {}
        user = build.get("user") or {}
        version = release.get("version") if isinstance(release, dict) else None
        rows.append(
            [
                str(build.get("id") or "")[:8],
                str(build.get("status") or ""),
                str((source.get("version") if isinstance(source, dict) else None) or "-")[:7],
                f"v{version}" if version else "-",
                str((user.get("email") if isinstance(user, dict) else None) or ""),
                _when(parse_time(build.get("created_at")), now),
            ]
        )
    s.table(rows)


def _when(when: datetime | None, now: datetime) -> str:
    return pretty_time(when, now) if when is not None else ""
