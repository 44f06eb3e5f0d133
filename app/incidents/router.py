"""HTTP routes for incidents."""

import uuid
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.auth import AnyPrincipal, Principal
from app.db import SessionDep, pooled_transaction
from app.errors import Forbidden, NotFound
from app.incidents import service
from app.incidents.schemas import (
    ActionResult,
    IncidentPage,
    IncidentRead,
    TimelineItem,
    row_read,
    to_read,
)
from app.models import Incident, utcnow
from app.store import timeline
from app.store.incidents import get_incident as load_incident
from app.store.incidents import lock_incident
from app.teams.access import IncidentResponder, may_act, others_allowed
from app.teams.service import team_service_ids
from app.vocabulary import Priority, Status

router = APIRouter(prefix="/incidents", tags=["incidents"])


def _can_read(principal: Principal, incident: Incident) -> None:
    if principal.is_integration and principal.service_id != incident.service_id:
        raise Forbidden("this integration key belongs to another service")


@router.get("")
async def list_incidents(
    session: SessionDep,
    principal: AnyPrincipal,
    status: Annotated[list[Status] | None, Query()] = None,
    service_id: Annotated[list[uuid.UUID] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    team_id: uuid.UUID | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> IncidentPage:
    services = list(service_id or [])
    if principal.is_integration:
        assert principal.service_id is not None
        if any(s != principal.service_id for s in services):
            raise Forbidden("this integration key belongs to another service")
        services = [principal.service_id]
    if team_id is not None:
        owned = await team_service_ids(session, team_id)
        services = [s for s in services if s in owned] if services else owned
        if not services:
            return IncidentPage(items=[], next_cursor=None)
    rows, next_cursor = await service.list_incidents(
        session=session,
        statuses=[s.value for s in status or []],
        service_ids=services,
        since=since,
        limit=limit,
        cursor=cursor,
        priorities=[p.value for p in priority or []],
    )
    return IncidentPage(items=[to_read(r) for r in rows], next_cursor=next_cursor)


async def _get(session: SessionDep, incident_id: uuid.UUID, *, lock: bool = False) -> Incident:
    # The store's get_incident is imported as load_incident: the route get_incident below keeps
    # its name, which is the OpenAPI operation id.
    incident = (
        await lock_incident(session, incident_id)
        if lock
        else await load_incident(session, incident_id)
    )
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


@router.get("/{incident_id}")
async def get_incident(
    incident_id: uuid.UUID, session: SessionDep, principal: AnyPrincipal
) -> IncidentRead:
    incident = await _get(session, incident_id)
    _can_read(principal, incident)
    return to_read(incident)


@router.get("/{incident_id}/timeline")
async def get_timeline(
    incident_id: uuid.UUID, session: SessionDep, principal: AnyPrincipal
) -> dict[str, list[TimelineItem]]:
    incident = await _get(session, incident_id)
    _can_read(principal, incident)
    rows = await timeline.entries(session=session, incident_id=incident_id)
    return {"items": [TimelineItem.model_validate(r, from_attributes=True) for r in rows]}


@router.post("/{incident_id}/acknowledge")
async def acknowledge_incident(
    incident_id: uuid.UUID, request: Request, session: SessionDep, principal: AnyPrincipal
) -> ActionResult:
    # The hot path of a responder's day: no ORM object, a few raw statements
    # (`acknowledge_by_id`) in a transaction on the plain pool; the permission check (as
    # `IncidentResponder`'s) reads what the incident's lock reads.
    state = request.app.state
    async with pooled_transaction(session, state.pg, state.enqueue):
        done = await service.acknowledge_by_id(
            session=session,
            incident_id=incident_id,
            actor=principal.actor(),
            now=utcnow(),
            authorize=partial(may_act, principal, others_allowed=others_allowed(request)),
            user_id=principal.user_id,
        )
    if done is None:
        raise NotFound(f"incident {incident_id} not found")
    if done.acknowledged is None:
        incident = await _get(session, incident_id)
        message = "already acknowledged; nothing changed"
        return ActionResult(changed=False, message=message, incident=to_read(incident))
    incident_read = row_read(done.acknowledged.row)
    return ActionResult(changed=True, message="acknowledged", incident=incident_read)


@router.post("/{incident_id}/resolve")
async def resolve_incident(
    incident_id: uuid.UUID, session: SessionDep, principal: IncidentResponder
) -> ActionResult:
    incident = await _get(session, incident_id, lock=True)
    changed = await service.resolve(
        session=session, incident=incident, actor=principal.actor(), now=utcnow()
    )
    message = "resolved" if changed else "already resolved; nothing changed"
    return ActionResult(changed=changed, message=message, incident=to_read(incident))
