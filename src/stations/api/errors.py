"""Domain errors mapped to HTTP in one place; every error body is ``{"detail": "..."}``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from stations.errors import (
    Conflict,
    DataError,
    Forbidden,
    InvalidInput,
    StationNotFound,
    StationsError,
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
    DataError: 500,
}


class UnknownParameter(InvalidInput):
    """A query parameter the route does not take."""


class BodyTooLarge(StationsError):
    """A request body over the configured limit."""


STATUS[BodyTooLarge] = 413
STATUS[TooManyReports] = 429


def status_for(exc: StationsError) -> int:
    """The HTTP status for a domain error (most specific class wins)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def domain_error(exc: StationsError) -> tuple[int, dict[str, str], dict[str, str] | None]:
    """Status, body and extra headers answering a domain error (5xx details stay in the log)."""
    status = status_for(exc)
    if status >= 500:
        return status, {"detail": "internal error; see the server log"}, None
    headers = {"WWW-Authenticate": 'Bearer realm="stations"'} if status == 401 else None
    return status, {"detail": str(exc)}, headers


def describe_validation_error(err: Any) -> str:
    """One pydantic/FastAPI validation error as "parameter 'x': what is wrong (got ...)"."""
    loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
    where = ".".join(loc) or "request"
    got = err.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"parameter {where!r}: {err.get('msg', 'invalid')}{shown}"


def _methods_for(request: Request) -> list[str]:
    """Every method the API documents for this path (from its OpenAPI document)."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"), methods)
            for path, methods in request.app.openapi()["paths"].items()
        ]
        request.app.state.allowed_methods = table
    found: set[str] = set()
    for pattern, methods in table:
        if pattern.match(request.url.path):
            found |= {m.upper() for m in methods if m != "parameters"}
    return sorted(found)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn domain and validation errors into clean 4xx answers."""

    @app.exception_handler(StationsError)
    async def _domain(request: Request, exc: StationsError) -> JSONResponse:
        status, body, headers = domain_error(exc)
        if status >= 500:
            log.exception("server error on %s", request.url.path, exc_info=exc)
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
            allowed = _methods_for(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"method {request.method} not allowed here; allowed: {', '.join(allowed)}"
        return JSONResponse({"detail": detail}, exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; see the server log"}, 500)
