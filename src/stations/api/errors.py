"""Domain errors mapped to HTTP in one place; every error body is ``{"detail": "..."}``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from stations.coords import shown
from stations.errors import (
    Conflict,
    DataError,
    Forbidden,
    InvalidInput,
    PreconditionFailed,
    StationNotFound,
    StationsError,
    StoreUnavailable,
    TooManyAttempts,
    Unauthorized,
)
from stations.storage.reports import TooManyReports

log = logging.getLogger("stations.api")

STATUS: dict[type[StationsError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    StationNotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    TooManyAttempts: 429,
    DataError: 500,
    StoreUnavailable: 503,
}


class UnknownParameter(InvalidInput):
    """A query parameter the route does not take."""


STATUS[TooManyReports] = 429
INTERNAL = {"detail": "internal error; see the server log"}


def status_for(exc: StationsError) -> int:
    """The HTTP status for a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def domain_error(exc: StationsError) -> tuple[int, dict[str, str], dict[str, str] | None]:
    """Status, body and extra headers answering a domain error (5xx details stay in the log)."""
    status = status_for(exc)
    if status == 503:  # the database is away: say so (no password in it), and when to retry
        return (
            status,
            {"detail": str(exc) + "; writes are refused until it is back"},
            {"Retry-After": "5"},
        )
    if status >= 500:
        return status, INTERNAL, None
    headers = {"WWW-Authenticate": 'Bearer realm="stations"'} if status == 401 else None
    if isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after)}
    return status, {"detail": str(exc)}, headers


def error_answer(exc: Exception, path: str) -> tuple[int, dict[str, str], dict[str, str] | None]:
    """Status, body and extra headers answering any error raised on ``path``.

    Domain errors map through `domain_error`; anything else is a 500. Every 5xx is logged
    with its traceback (its details stay out of the answer). The handlers below and the hot
    path both answer through this.
    """
    if isinstance(exc, StationsError):
        status, body, headers = domain_error(exc)
        if status == 503:  # an outage the answer names; no traceback to read
            log.warning("%s on %s", exc, path)
        elif status >= 500:
            log.exception("server error on %s", path, exc_info=exc)
        return status, body, headers
    log.exception("unexpected error on %s", path, exc_info=exc)
    return 500, INTERNAL, None


def describe_validation_error(err: Any) -> str:
    """One pydantic/FastAPI validation error as "parameter 'x': what is wrong (got ...)"."""
    if err.get("type") == "json_invalid":  # its loc is a character position, not a parameter
        reason = (err.get("ctx") or {}).get("error") or err.get("msg", "invalid")
        position = [p for p in err.get("loc", ()) if isinstance(p, int)]
        at = f" at character {position[0]}" if position else ""
        return f"the body is not valid JSON: {reason}{at}"
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
    where = ".".join(loc) or "request"
    got = err.get("input")
    echo = f" (got {shown(got)})" if got is not None and not isinstance(got, dict | list) else ""
    return f"parameter {where!r}: {err.get('msg', 'invalid')}{echo}"


class _AllowedMethods:
    """Every method the API documents for a path (from its OpenAPI document, read once)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.table: list[tuple[re.Pattern[str], dict[str, Any]]] | None = None

    def __call__(self, path: str) -> list[str]:
        if self.table is None:
            self.table = [
                (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(p)) + "$"), methods)
                for p, methods in self.app.openapi()["paths"].items()
            ]
        found: set[str] = set()
        for pattern, methods in self.table:
            if pattern.match(path):
                found |= {m.upper() for m in methods if m != "parameters"}
        return sorted(found)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn domain and validation errors into clean 4xx answers."""
    methods_for = _AllowedMethods(app)

    @app.exception_handler(StationsError)
    async def _domain(request: Request, exc: StationsError) -> JSONResponse:
        status, body, headers = error_answer(exc, request.url.path)
        return JSONResponse(body, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": "; ".join(describe_validation_error(e) for e in exc.errors())}, 400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such path: {request.url.path}; see /docs"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path served by several
            # routes (GET and POST /api/stations) must list them all.
            allowed = methods_for(request.url.path)
            headers["Allow"] = ", ".join(allowed)
            detail = f"method {request.method} not allowed here; allowed: {', '.join(allowed)}"
        return JSONResponse({"detail": detail}, exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        status, body, headers = error_answer(exc, request.url.path)
        return JSONResponse(body, status, headers=headers)
