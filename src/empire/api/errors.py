"""EmpireError → HTTP status and Heroku error id, in one table; and the error body."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from empire import errors

# Most specific first: the first class that matches wins.
STATUS: list[tuple[type[errors.EmpireError], int, str]] = [
    (errors.ImageNotFound, 404, "not_found"),
    (errors.NotFound, 404, "not_found"),
    (errors.MessageRequired, 400, "message_required"),
    (errors.InvalidCertificate, 422, "invalid_params"),
    (errors.Invalid, 400, "bad_request"),
    (errors.Conflict, 409, "conflict"),
    (errors.Unauthorized, 401, "unauthorized"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.Unavailable, 503, "unavailable"),
    (errors.NotSupported, 501, "not_implemented"),
    (errors.RegistryError, 502, "registry_error"),
    (errors.SchedulerError, 502, "scheduler_error"),
]


def status_of(exc: errors.EmpireError) -> tuple[int, str]:
    """Return the HTTP status and error id for an error."""
    for cls, status, ident in STATUS:
        if isinstance(exc, cls):
            return status, ident
    return 500, "internal_error"


def body(ident: str, message: str, **extra: Any) -> dict[str, Any]:
    """Return a Heroku error body."""
    return {"id": ident, "message": message, "url": "", **extra}


def response(status: int, ident: str, message: str, **extra: Any) -> JSONResponse:
    """Return a Heroku error response."""
    return JSONResponse(body(ident, message, **extra), status_code=status)


def from_exception(exc: errors.EmpireError) -> JSONResponse:
    """Render an EmpireError."""
    status, ident = status_of(exc)
    extra = {"resource": exc.resource} if isinstance(exc, errors.NotFound) and exc.resource else {}
    return response(status, ident, exc.message, **extra)
