"""Request body limits: size (413 before the body is read into memory) and JSON shape (422)."""

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import jsonsafe
from app.errors import error_body


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse bodies over `max_bytes`, by Content-Length or while streaming."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, prefix_limits: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths starting with a prefix get that prefix's limit instead (e.g. inbound alerts).
        self.prefix_limits = prefix_limits

    def _limit(self, path: str) -> int:
        for prefix, limit in self.prefix_limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(send, limit)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        message = f"request body exceeds {limit} bytes"
        await send_json(send, 413, error_body("payload_too_large", message))


async def send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    """Answer with `payload` as JSON, straight through ASGI."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_content(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # no content type: FastAPI may still read the body as JSON


class JsonBodyCheck:
    """Refuse a JSON body that breaks `app.jsonsafe`'s rule with a 422 naming the field, before
    any handler reads it: what the API accepts, it can store and read back.

    Paths under `skip_prefixes` read their bodies themselves (through the same rule).
    """

    def __init__(self, app: ASGIApp, skip_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("POST", "PUT", "PATCH")
            or scope["path"].startswith(self.skip_prefixes)
            or not _json_content(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                jsonsafe.loads(body)
            except jsonsafe.UnsafeJson as exc:
                await _refuse(send, jsonsafe.dotted(exc.path), exc.message)
                return
        request: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([request], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


async def _refuse(send: Send, field: str, message: str) -> None:
    details = [{"field": field, "message": message}]
    await send_json(send, 422, error_body("invalid", f"{field}: {message}", details))
