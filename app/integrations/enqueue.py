"""PagerDuty Events API v2 `POST /v2/enqueue`: the hot path of an alert storm.

`answer` turns a request body into PagerDuty's answer: the event is validated, admitted by its
key's rate limit and written to the inbox with one statement, and the 202 goes out once that
row is committed. `serve` speaks ASGI directly: `StairwayApp` hands it this one path (behind
the inbound body size limit) before the framework's middleware, routing and dependency
resolution, which cost about a third of the API's CPU per event. The route in
`app/integrations/router.py` documents the endpoint (OpenAPI) and answers with the same `answer`.
"""

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

from app.errors import AppError, error_body
from app.integrations import inbox, pagerduty, sources
from app.integrations.ingest import BadPayload, Received, admit, read_json
from app.models import utcnow
from app.request_ids import HEADER, request_id
from app.security import hash_key

log = logging.getLogger(__name__)

PATH = "/v2/enqueue"
PD_THROTTLED = {
    "status": "throttle event",
    "message": "Requests for this integration key are arriving too quickly. Please retry later.",
}
PD_UNKNOWN_KEY = {
    "status": "invalid event",
    "message": "Event object is invalid",
    "errors": ["'routing_key' is not an integration key of this Stairway"],
}


class _Disconnected(Exception):
    """The client went away before sending the whole body."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


async def admitted(state: Any, raw: bytes) -> tuple[dict[str, Any], str] | Answer:
    """The body and routing-key hash of a PagerDuty event within its key's rate, else the
    answer (400 for a body without a usable routing key, 429 over the rate)."""
    try:
        body = read_json(raw)
        secret = pagerduty.routing_key(body)
    except BadPayload as exc:
        return Answer(400, pagerduty.invalid(exc.errors))
    key_hash = hash_key(secret)
    verdict = await admit(state, key_hash)
    if not verdict.allowed:
        return Answer(429, PD_THROTTLED, {"Retry-After": str(verdict.retry_after_seconds)})
    return body, key_hash


async def answer(state: Any, raw: bytes) -> Answer:
    """Queue the alert event in `raw` durably; PagerDuty's answer."""
    admission = await admitted(state, raw)
    if isinstance(admission, Answer):
        return admission
    body, key_hash = admission
    try:
        [event] = sources.parse("pagerduty", body, Received(body_bytes=len(raw)))
    except BadPayload as exc:
        return Answer(400, pagerduty.invalid(exc.errors))
    now = utcnow()
    if not await inbox.record(state.pg, key_hash=key_hash, event=event, received_at=now):
        return Answer(404, PD_UNKNOWN_KEY)
    await state.inbox_waker.wake(now)
    return Answer(202, pagerduty.accepted(event.dedup_key))


async def serve(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one `POST /v2/enqueue` as an ASGI application (under `app.limits.BodySizeLimit`)."""
    try:
        raw = await _body(receive)
    except _Disconnected:
        return  # nobody to answer, and a partial body is not an event
    try:
        reply = await answer(state, raw)
    except AppError as exc:
        reply = Answer(
            exc.status_code, error_body(exc.code, exc.message, exc.details), exc.headers or {}
        )
    except Exception:
        rid = request_id(scope)
        log.exception("unexpected error answering an alert event", extra={"request_id": rid})
        reply = Answer(500, error_body("internal", "internal error"), {HEADER: rid})
    content = json.dumps(reply.body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in reply.headers.items()),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
