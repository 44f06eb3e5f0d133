"""Errors as values with a status, rendered as {"error": {...}}."""

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
from starlette.exceptions import HTTPException as StarletteHTTPException


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


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


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


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _location(err.get("loc", ())), "message": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid request"
    return JSONResponse(error_body("invalid", message, details), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    # Connection-level failures mean PostgreSQL is unreachable: tell the client to come back.
    return JSONResponse(
        error_body("unavailable", "database unavailable, retry later"),
        status_code=503,
        headers={"Retry-After": "5"},
    )


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
        return JSONResponse(error_body("invalid", message), status_code=422)
    return await _unexpected(request, exc)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("internal", "internal error"), status_code=500)


# SQLSTATEs that mean "no server to write to right now", as during a failover: a connection
# exception (class 08), a server shutting down, crashed or starting up (57P01-57P03), a standby
# that only reads (25006).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "25006")


def is_connection_error(exc: BaseException) -> bool:
    """True when the exception means the database or Redis could not be reached."""
    if isinstance(exc, InterfaceError | OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return True
    # The driver's own error: raised as is (the inbox's plain pool) or wrapped by SQLAlchemy.
    driver: list[BaseException | None] = [exc]
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        driver += [exc.orig, exc.orig.__cause__]
    return any(_driver_unavailable(error) for error in driver if error is not None)


def _driver_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | OSError | NoWritableHost | DriverInterfaceError):
        return True
    return str(getattr(exc, "sqlstate", "") or "").startswith(_UNAVAILABLE_SQLSTATES)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error in the one shape."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(ConnectionError, _database_down)
    app.add_exception_handler(OSError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
