"""A request id for every HTTP request, on its log lines and in its answer (`X-Request-ID`).

A sane id sent by the client or a proxy in front is kept, so one id follows a request through
every hop; otherwise a fresh one is made. An operator handed the id by a user finds the
request's log lines, the traceback of an unexpected error included.
"""

import re
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
_SANE = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id(scope: Scope) -> str:
    """The request's id: the one it was given in `scope`, its sane X-Request-ID header, or new."""
    given = scope.get("state", {}).get("request_id")
    if isinstance(given, str):
        return given
    for name, value in scope.get("headers", []):
        if name == _HEADER_KEY and _SANE.match(value):
            return str(value.decode())
    return uuid.uuid4().hex


class RequestIds:
    """Gives each HTTP request its id: bound to its log lines, sent back as X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        # Kept in the request's state too: the handler of unexpected errors runs outside
        # this middleware (and this context), yet logs and answers with the same id.
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (_HEADER_KEY, rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            await self.app(scope, receive, send_with_id)
