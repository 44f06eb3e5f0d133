"""Inbound alert endpoints: PagerDuty Events API v2, and every webhook source of the table.

Each webhook source in `app/integrations/sources.py` is served at
`POST /integrations/{name}/{integration_key}`; its events are applied in the request or queued
in the inbox, as the table says (`app/integrations/pipeline.py`). PagerDuty events are queued
(`app/integrations/enqueue.py`). Either way the 2xx is sent once the write is committed: an
acknowledged event is in PostgreSQL, never only in memory.
"""

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from app.db import SessionDep
from app.errors import AppError, NotFound
from app.integrations import enqueue, pagerduty, pipeline, sources
from app.integrations.ingest import BadPayload, Received, admit, find_key, read_json
from app.models import utcnow
from app.security import hash_key

router = APIRouter(tags=["integrations"])

ALERT_EVENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid event (PagerDuty's shape: status, message, errors)"},
    404: {"description": "Unknown routing key"},
    413: {"description": "Body over the inbound size limit"},
    429: {"description": "Rate limited; see Retry-After"},
}


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"


class BadWebhook(AppError):
    status_code = 400
    code = "invalid_payload"


def _bad_webhook(exc: BadPayload) -> BadWebhook:
    details = [{"field": f, "message": m} for f, m in exc.errors]
    return BadWebhook(str(exc), details=details)


@router.post(enqueue.PATH, status_code=202, responses=ALERT_EVENT_RESPONSES)
async def enqueue_event(request: Request) -> JSONResponse:
    """PagerDuty Events API v2 alert event (trigger / acknowledge / resolve).

    Like PagerDuty, the event is accepted into a queue: the 202 means it is stored in
    PostgreSQL, and a worker applies the queued events in the order they arrived.
    """
    reply = await enqueue.answer(request.app.state, await request.body())
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


@router.post("/v2/change/enqueue", status_code=202, responses=ALERT_EVENT_RESPONSES)
async def enqueue_change_event(request: Request, session: SessionDep) -> JSONResponse:
    """PagerDuty change event: validated and acknowledged, not stored (nobody is paged)."""
    admission = await enqueue.admitted(request.app.state, await request.body())
    if isinstance(admission, enqueue.Answer):
        return JSONResponse(admission.body, status_code=admission.status, headers=admission.headers)
    body, key_hash = admission
    try:
        pagerduty.check_change_event(body)
    except BadPayload as exc:
        return JSONResponse(pagerduty.invalid(exc.errors), status_code=400)
    if await find_key(session, key_hash) is None:
        return JSONResponse(enqueue.PD_UNKNOWN_KEY, status_code=404)
    return JSONResponse(pagerduty.accepted(None, "Change event processed"), status_code=202)


IntegrationKeyPath = Annotated[str, Path(min_length=1, max_length=64)]


async def _webhook(request: Request, session: SessionDep, secret: str, name: str) -> dict[str, Any]:
    key_hash = hash_key(secret)
    verdict = await admit(request.app.state, key_hash)
    if not verdict.allowed:
        raise RateLimited(
            "too many events for this integration key; retry later",
            headers={"Retry-After": str(verdict.retry_after_seconds)},
        )
    key = await find_key(session, key_hash)
    if key is None:
        raise NotFound("unknown integration key")
    raw = await request.body()
    try:
        received = Received(grouping=key.alert_grouping, body_bytes=len(raw))
        events = sources.parse(name, read_json(raw), received)
    except BadPayload as exc:
        raise _bad_webhook(exc) from exc
    now, actor = utcnow(), key.actor()
    if sources.SOURCES[name].delivery is sources.Delivery.INBOX:
        applied = [
            await pipeline.queue(session, service_id=key.service_id, event=e, actor=actor, now=now)
            for e in events
        ]
    else:
        applied = await pipeline.accept(
            session=session, service_id=key.service_id, events=events, actor=actor, now=now
        )
    return {"status": "accepted", "events": [a.to_json() for a in applied]}


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid payload; details name the fields"},
    404: {"description": "Unknown integration key"},
    413: {"description": "Body over the inbound size limit"},
    429: {"description": "Rate limited; see Retry-After"},
}


def _webhook_route(
    name: str,
) -> Callable[[IntegrationKeyPath, Request, SessionDep], Awaitable[dict[str, Any]]]:
    async def receive(
        integration_key: IntegrationKeyPath, request: Request, session: SessionDep
    ) -> dict[str, Any]:
        return await _webhook(request, session, integration_key, name)

    # The route's description is the first line of the parser module's docstring.
    module = sys.modules[sources.SOURCES[name].parse.__module__]
    receive.__doc__ = (module.__doc__ or f"The {name} webhook.").splitlines()[0]
    return receive


for _name, _source in sources.SOURCES.items():
    if _source.webhook:
        router.add_api_route(
            f"/integrations/{_name}/{{integration_key}}",
            _webhook_route(_name),
            methods=["POST"],
            status_code=202,
            responses=WEBHOOK_RESPONSES,
            name=f"{_name}_webhook",
        )
