"""Presenters: domain values → Heroku v3 JSON. The only place that says dyno or formation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from fastapi.responses import JSONResponse

from empire import sizes
from empire.api.ranges import Ranges, next_range
from empire.core import process_id
from empire.formation import describe_certificate
from empire.model import (
    App,
    Domain,
    Exposure,
    Outcome,
    Page,
    Process,
    Release,
    ReleaseSummary,
    Task,
    User,
)

T = TypeVar("T")


class FastJSONResponse(JSONResponse):
    """A JSON response serialized with orjson: lists of hundreds of resources stay cheap."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def when(value: datetime | None) -> str | None:
    """Format a time as RFC 3339 UTC, e.g. 2026-11-26T10:00:00Z."""
    if value is None:
        return None
    # isoformat is several times faster than strftime; times are stored in UTC.
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def ref(app: App) -> dict[str, str]:
    return {"id": app.id, "name": app.name}


def app_json(app: App, owner: User) -> dict[str, Any]:
    stack = {"id": "00000000-0000-0000-0000-000000000001", "name": "container"}
    return {
        "id": app.id,
        "name": app.name,
        "maintenance": app.maintenance,
        "created_at": when(app.created_at),
        "updated_at": when(app.updated_at),
        "released_at": when(app.released_at),
        "archived_at": None,
        "acm": False,
        "buildpack_provided_description": None,
        "build_stack": stack,
        "stack": stack,
        "create_status": "complete",
        "generation": {"id": "00000000-0000-0000-0000-000000000002", "name": "cedar"},
        "git_url": "",
        "web_url": f"http://{app.name}/",  # every app answers there inside the platform
        "internal_routing": app.exposure is Exposure.PRIVATE,
        "owner": {"id": owner.id, "email": owner.email},
        "region": {"id": "00000000-0000-0000-0000-000000000003", "name": "local"},
        "repo_size": 0,
        "slug_size": 0,
        "space": None,
        "team": None,
        "organization": None,
        "exposure": app.exposure.value,
        "repo": app.repo,
        # A PEM certificate carries its private key: show a fingerprint, never the text.
        "cert": describe_certificate(app.certs.get("web", "")),
        "certs": {process: describe_certificate(c) for process, c in app.certs.items()},
    }


_WIRE_STATUS = {
    Outcome.PENDING: "pending",
    Outcome.SUCCEEDED: "succeeded",
    Outcome.ROLLED_BACK: "failed",
    Outcome.FAILED: "failed",
}


def release_json(release: Release | ReleaseSummary) -> dict[str, Any]:
    user = release.user
    if isinstance(release, Release):
        slug_id, image = release.slug.id, release.slug.image
    else:
        slug_id, image = release.slug_id, release.image
    return {
        "id": release.id,
        "version": release.version,
        "description": release.description,
        "created_at": when(release.created_at),
        "updated_at": when(release.updated_at),
        "slug": {"id": slug_id},
        "image": image,
        "user": {"id": user.id, "email": user.email, "name": user.name}
        if user
        else {"id": "", "email": ""},
        "app": {"id": release.app_id, "name": release.app_name},
        "status": _WIRE_STATUS[release.outcome],
        "outcome": release.outcome.value,
        "outcome_reason": release.reason,
        "current": release.current,
        "eligible_for_rollback": True,
        "addon_plan_names": [],
        "artifacts": [],
        "output_stream_url": None,
        "commit_message": release.message,
        **_phase(release),
    }


def _phase(release: Release | ReleaseSummary) -> dict[str, Any]:
    """Empire's extension, on a release that had a release phase: how it went
    (`release_phase`: running, succeeded or failed); its output is at `output_stream_url`
    (`with_output_url`)."""
    if not isinstance(release, Release) or not release.phase:
        return {}
    return {"release_phase": release.phase}


def with_output_url(body: dict[str, Any], release: Release, base: str) -> dict[str, Any]:
    """Point `output_stream_url` at the release phase's output, when the release had one."""
    if release.phase:
        body["output_stream_url"] = (
            f"{base.rstrip('/')}/apps/{release.app_name}/releases/{release.version}/output"
        )
    return body


def formation_id(app: App, process: str) -> str:
    """A formation's id: its process type's stable id (the facade accepts it for the type)."""
    return process_id(app.id, process)


def formation_json(app: App, process: Process, updated_at: datetime) -> dict[str, Any]:
    size = process.size or sizes.DEFAULT
    hc = process.healthcheck
    return {
        "id": formation_id(app, process.name),
        "type": process.name,
        "quantity": process.quantity,
        "size": sizes.render(size),
        "command": " ".join(process.command),
        "noservice": process.noservice,
        "cron": process.cron,
        "healthcheck": None
        if hc is None
        else {"type": hc.type, "path": hc.path, "interval": hc.interval, "timeout": hc.timeout},
        "app": ref(app),
        "created_at": when(updated_at),
        "updated_at": when(updated_at),
    }


def dyno_json(app: App, task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "type": task.process,
        "command": task.command,
        "state": task.state,
        "size": sizes.render(task.size) if task.size else "",
        "host": {"id": task.host},
        "release": {"id": "", "version": task.release},
        "app": ref(app),
        "attach_url": None,
        "exit_code": task.exit_code,
        "created_at": when(task.updated_at),
        "updated_at": when(task.updated_at),
    }


def domain_json(app: App, domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "hostname": domain.hostname,
        "kind": "custom",
        "cname": domain.hostname,
        "status": "none",
        "acm_status": None,
        "acm_status_reason": None,
        "sni_endpoint": None,
        "app": ref(app),
        "created_at": when(domain.created_at),
        "updated_at": when(domain.created_at),
    }


def page(
    items: Sequence[T],
    page: Page,
    ranges: Ranges,
    render: Callable[[T], dict[str, Any]],
    key: Callable[[T], str],
) -> JSONResponse:
    """Render one page of a list fetched with `max + 1` rows: 206 and Next-Range if more."""
    more = len(items) > page.max
    shown = list(items[: page.max])
    headers = {"Accept-Ranges": ranges.accept}
    if shown:
        headers["Content-Range"] = f"{page.field} {key(shown[0])}..{key(shown[-1])}"
    if more:
        headers["Next-Range"] = next_range(page, key(shown[-1]))
    return FastJSONResponse(
        [render(i) for i in shown], status_code=206 if more else 200, headers=headers
    )


def window(items: Sequence[T], page: Page, key: Callable[[T], Any]) -> list[T]:
    """Apply a Page to an in-memory list (for lists that do not come from the store)."""
    ordered = sorted(items, key=key, reverse=page.descending)
    if page.start is not None:
        start = page.start

        def after(item: T) -> bool:
            value = str(key(item))
            if page.descending:
                return value < start if page.exclusive else value <= start
            return value > start if page.exclusive else value >= start

        ordered = [i for i in ordered if after(i)]
    return ordered[: page.max + 1]
