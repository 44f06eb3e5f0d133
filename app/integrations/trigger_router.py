"""`POST /api/v1/incidents`: the generic inbound source, applied in the request.

A user API key (responder or admin) names the service; an integration key triggers on its own.
The answer carries the incident: 201 when created, 200 when deduplicated into an open one.
"""

from fastapi import APIRouter, Response

from app.auth import AnyPrincipal
from app.db import SessionDep
from app.errors import Forbidden, field_error
from app.incidents.schemas import IncidentRead, IncidentTrigger, to_read
from app.integrations import pipeline, sources
from app.models import utcnow

router = APIRouter(prefix="/incidents", tags=["incidents"])


@router.post("", status_code=201, responses={200: {"description": "Deduplicated"}})
async def trigger_incident(
    data: IncidentTrigger, response: Response, session: SessionDep, principal: AnyPrincipal
) -> IncidentRead:
    if principal.is_integration:
        if data.service_id is not None and data.service_id != principal.service_id:
            raise Forbidden("this integration key may only trigger incidents on its own service")
        assert principal.service_id is not None
        service_id = principal.service_id
    elif principal.role in ("responder", "admin"):
        if data.service_id is None:
            raise field_error("service_id", "required when triggering with a user API key")
        service_id = data.service_id
    else:
        raise Forbidden("this action needs the responder role")
    # The generic inbound source, applied in the request: the answer carries the incident.
    [event] = sources.parse("generic", data)
    applied = await pipeline.apply(
        session=session, service_id=service_id, event=event, actor=principal.actor(), now=utcnow()
    )
    if applied.outcome != "created":
        response.status_code = 200
    assert applied.incident is not None
    return to_read(applied.incident)
