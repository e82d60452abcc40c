"""/metrics (Prometheus, admins and scrapers) and /apps/{app}/metrics (the app's figures, for
its viewers: `emp metrics`, the dashboard)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from anyio import to_thread
from fastapi import APIRouter, Request, Response

from empire.api import render
from empire.api.context import Ctx
from empire.errors import Forbidden, Invalid, NotSupported
from empire.metrics.view import AppMetrics, ProcessMetrics

if TYPE_CHECKING:  # prometheus_client loads only when metrics are on
    from empire.metrics.registry import Metrics

router = APIRouter()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text format
MAX_MINUTES = 60


@router.get("/metrics")
async def metrics(request: Request, c: Ctx) -> Response:
    """Every series, for an admin's token (scrapers: EMPIRE_METRICS_TOKEN or
    EMPIRE_METRICS_ALLOW, answered before the gate)."""
    source: Metrics | None = getattr(request.app.state, "metrics", None)
    if source is None:
        raise NotSupported("metrics are off on this server (EMPIRE_METRICS=false)")
    if not c.user.admin:
        raise Forbidden(
            f"{c.user.name} is not a global admin: reading /metrics needs one (a scraper "
            "uses EMPIRE_METRICS_TOKEN, or an address in EMPIRE_METRICS_ALLOW)"
        )
    body = await to_thread.run_sync(source.render)
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/apps/{app}/metrics")  # emp metrics
async def app_metrics(app: str, c: Ctx, minutes: str = "5") -> dict[str, Any]:
    if not minutes.isdigit() or not 1 <= int(minutes) <= MAX_MINUTES:
        raise Invalid(f"invalid minutes {minutes[:20]!r}: use a number from 1 to {MAX_MINUTES}")
    view = await c.call(c.empire.app_metrics, app, by=c.user, minutes=int(minutes))
    return app_metrics_json(view)


def app_metrics_json(view: AppMetrics) -> dict[str, Any]:
    router_view = view.router
    return {
        "app": {"id": view.app_id, "name": view.app},
        "at": render.when(view.at),
        "minutes": view.minutes,
        "processes": [_process_json(p) for p in view.processes],
        "router": {
            "requests": router_view.requests,
            "requests_per_second": router_view.requests_per_second,
            "p50_ms": router_view.p50_ms,
            "p95_ms": router_view.p95_ms,
            "errors_5xx": router_view.errors_5xx,
            "by_status": router_view.by_status,
        },
        "series": {
            "start": render.when(view.series_start),
            "step_seconds": view.step_seconds,
            "processes": {
                p.type: {
                    "cpu_percent": _rounded(p.series.cpu_percent),
                    "memory_bytes": [None if v is None else int(v) for v in p.series.memory_bytes],
                    "running": list(p.series.running),
                    "restarts": list(p.series.restarts),
                }
                for p in view.processes
            },
            "router": {
                "requests": list(router_view.series.requests),
                "p50_ms": list(router_view.series.p50_ms),
                "p95_ms": list(router_view.series.p95_ms),
                "errors_5xx": list(router_view.series.errors_5xx),
            },
        },
    }


def _process_json(p: ProcessMetrics) -> dict[str, Any]:
    return {
        "type": p.type,
        "running": p.running,
        "desired": p.desired,
        "cpu_percent": p.cpu_percent,
        "memory_bytes": p.memory_bytes,
        "restarts": p.restarts,
        "restarts_total": p.restarts_total,
    }


def _rounded(values: tuple[float | None, ...]) -> list[float | None]:
    return [None if v is None else round(v, 2) for v in values]
