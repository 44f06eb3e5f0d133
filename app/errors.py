"""Errors as values with a status, rendered as {"error": {...}}."""

import logging
from typing import Any

from asyncpg.exceptions import (  # type: ignore[import-untyped]
    InterfaceError as DriverInterfaceError,
)
from asyncpg.exceptions import (
    TargetServerAttributeNotMatched as NoWritableHost,  # every host of DATABASE_URL is a standby
)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.request_ids import HEADER, request_id

log = logging.getLogger(__name__)
# How long a client is asked to wait when PostgreSQL or Redis cannot take the request.
RETRY_AFTER_SECONDS = 5
# SQLSTATE classes and codes meaning "the server cannot take this now", not "bad request":
# 08 connection exception, 53 insufficient resources (too many clients, out of memory, disk
# full), 57P01-57P03 shutting down, crashed, not yet accepting connections, 25006 a standby
# that only reads (as during a failover).
_UNAVAILABLE_STATES = ("08", "53", "57P01", "57P02", "57P03", "25006")


class AppError(Exception):
    """Base for every error a client may see."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class InvalidInput(AppError):
    status_code = 422
    code = "invalid"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unavailable(AppError):
    status_code = 503
    code = "unavailable"


def field_error(field: str, message: str) -> InvalidInput:
    """A 422 naming the offending field."""
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape of the API."""
    return {"error": {"code": code, "message": message, "details": details}}


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _detail(err: dict[str, Any]) -> dict[str, str]:
    if err.get("type") == "json_invalid":
        # Its location is ("body", <character offset>): the field is the body.
        reason = (err.get("ctx") or {}).get("error", "")
        offset = list(err.get("loc", ()))[-1:]
        where = f" at character {offset[0]}" if offset and isinstance(offset[0], int) else ""
        return {"field": "body", "message": f"not valid JSON: {reason}{where}".strip()}
    return {"field": _location(err.get("loc", ())), "message": str(err.get("msg", ""))}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [_detail(err) for err in exc.errors()]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid request"
    return JSONResponse(error_body("invalid", message, details), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def database_unavailable() -> Unavailable:
    """The 503 for a PostgreSQL that cannot take the request now (down, full, pool exhausted)."""
    return Unavailable(
        "database unavailable, retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL is unreachable or cannot take more work: tell the client to come back.
    log.warning(
        "database unavailable: %s",
        exc.__class__.__name__,
        extra={"method": request.method, "path": request.url.path},
    )
    return await _app_error(request, database_unavailable())


def is_bad_value(exc: BaseException) -> bool:
    """True when the database refused a value the client sent (class 22: out of range, NUL...)."""
    seen: BaseException | None = getattr(exc, "orig", None)
    while seen is not None:
        if str(getattr(seen, "sqlstate", "") or "").startswith("22") or isinstance(
            seen, ValueError
        ):
            return True
        seen = seen.__cause__
    return False


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if is_connection_error(exc):
        return await _database_down(request, exc)
    if is_bad_value(exc):
        # A value the schema let through but PostgreSQL cannot store: still the client's mistake.
        message = "a value is out of range or contains characters that cannot be stored"
        details = [{"field": "body", "message": message}]
        return JSONResponse(error_body("invalid", message, details), status_code=422)
    return await _unexpected(request, exc)


async def _stale(request: Request, exc: Exception) -> JSONResponse:
    # A row this request read was deleted or changed by another one meanwhile.
    message = "the resource was changed or deleted by another request meanwhile; retry"
    return await _app_error(request, Conflict(message))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Runs outside the request's middleware: the request id comes from the scope, and ties
    # this line (with its traceback) to the answer the client got.
    rid = request_id(request.scope)
    log.error(
        "unexpected error answering %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": rid},
    )
    return JSONResponse(
        error_body("internal", "internal error"), status_code=500, headers={HEADER: rid}
    )


def _unavailable_state(exc: BaseException) -> bool:
    state = str(getattr(exc, "sqlstate", "") or "")
    return bool(state) and state.startswith(_UNAVAILABLE_STATES)


def is_connection_error(exc: BaseException) -> bool:
    """True when the exception means the database or Redis could not be reached, or cannot
    take more work now (too many clients, the connection pool exhausted, shutting down)."""
    if isinstance(exc, InterfaceError | OperationalError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if _driver_unavailable(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _driver_unavailable(exc: BaseException) -> bool:
    unreachable = ConnectionError | OSError | TimeoutError | NoWritableHost | DriverInterfaceError
    return isinstance(exc, unreachable) or _unavailable_state(exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error in the one shape."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(OSError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
