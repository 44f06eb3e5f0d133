"""Inbound alert endpoints: PagerDuty Events API v2, Alertmanager and Grafana webhooks.

Webhook events are applied in the request's transaction; PagerDuty events are queued in the
inbox (`app/integrations/enqueue.py`). Either way the 2xx is sent once the write is committed:
an acknowledged event is in PostgreSQL, never only in memory.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from app.db import SessionDep
from app.errors import AppError, NotFound
from app.integrations import alertmanager, enqueue, grafana, pagerduty
from app.integrations.ingest import BadPayload, Event, admit, apply, find_key, read_json
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


async def _webhook(
    request: Request,
    session: SessionDep,
    secret: str,
    parse: Callable[[Any, str], list[Event]],
) -> dict[str, Any]:
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
    try:
        events = parse(read_json(await request.body()), key.alert_grouping)
    except BadPayload as exc:
        raise _bad_webhook(exc) from exc
    now = utcnow()
    applied = [
        await apply(session=session, service_id=key.service_id, event=e, actor=key.actor(), now=now)
        for e in events
    ]
    return {"status": "accepted", "events": [a.to_json() for a in applied]}


WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid payload; details name the fields"},
    404: {"description": "Unknown integration key"},
    413: {"description": "Body over the inbound size limit"},
    429: {"description": "Rate limited; see Retry-After"},
}


@router.post(
    "/integrations/alertmanager/{integration_key}", status_code=202, responses=WEBHOOK_RESPONSES
)
async def alertmanager_webhook(
    integration_key: IntegrationKeyPath, request: Request, session: SessionDep
) -> dict[str, Any]:
    """Prometheus Alertmanager webhook receiver (payload version 4)."""
    return await _webhook(
        request, session, integration_key, lambda b, g: alertmanager.events(b, grouping=g)
    )


@router.post(
    "/integrations/grafana/{integration_key}", status_code=202, responses=WEBHOOK_RESPONSES
)
async def grafana_webhook(
    integration_key: IntegrationKeyPath, request: Request, session: SessionDep
) -> dict[str, Any]:
    """Grafana alerting webhook contact point."""
    return await _webhook(
        request, session, integration_key, lambda b, g: grafana.events(b, grouping=g)
    )
