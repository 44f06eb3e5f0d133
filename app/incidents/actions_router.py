"""HTTP routes for the manual incident actions beyond acknowledge and resolve."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Request

from app.db import SessionDep
from app.errors import NotFound
from app.incidents import lifecycle
from app.incidents.action_schemas import (
    EscalateRequest,
    MergeRequest,
    NoteCreate,
    ReassignRequest,
    SnoozeRequest,
)
from app.incidents.schemas import ActionResult, TimelineItem, to_read
from app.models import Incident, utcnow
from app.store.incidents import get_incident, lock_incident
from app.teams.access import IncidentResponder, check_may_act, others_allowed

router = APIRouter(prefix="/incidents", tags=["incidents"])


async def _locked(session: SessionDep, incident_id: uuid.UUID) -> Incident:
    incident = await lock_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


def _result(outcome: lifecycle.Outcome, incident: Incident) -> ActionResult:
    return ActionResult(
        changed=outcome.changed, message=outcome.message, incident=to_read(incident)
    )


@router.post("/{incident_id}/unacknowledge")
async def unacknowledge_incident(
    incident_id: uuid.UUID, session: SessionDep, principal: IncidentResponder
) -> ActionResult:
    incident = await _locked(session, incident_id)
    outcome = await lifecycle.unacknowledge(
        session=session, incident=incident, actor=principal.actor(), now=utcnow()
    )
    return _result(outcome, incident)


@router.post("/{incident_id}/snooze")
async def snooze_incident(
    incident_id: uuid.UUID, data: SnoozeRequest, session: SessionDep, principal: IncidentResponder
) -> ActionResult:
    incident = await _locked(session, incident_id)
    outcome = await lifecycle.snooze(
        session=session,
        incident=incident,
        actor=principal.actor(),
        now=utcnow(),
        duration_seconds=data.duration_seconds,
    )
    return _result(outcome, incident)


@router.post("/{incident_id}/escalate")
async def escalate_incident(
    incident_id: uuid.UUID,
    session: SessionDep,
    principal: IncidentResponder,
    data: Annotated[EscalateRequest | None, Body()] = None,
) -> ActionResult:
    incident = await _locked(session, incident_id)
    outcome = await lifecycle.escalate(
        session=session,
        incident=incident,
        actor=principal.actor(),
        now=utcnow(),
        data=data or EscalateRequest(),
    )
    return _result(outcome, incident)


@router.post("/{incident_id}/reassign")
async def reassign_incident(
    incident_id: uuid.UUID, data: ReassignRequest, session: SessionDep, principal: IncidentResponder
) -> ActionResult:
    incident = await _locked(session, incident_id)
    outcome = await lifecycle.reassign(
        session=session, incident=incident, actor=principal.actor(), now=utcnow(), data=data
    )
    return _result(outcome, incident)


@router.post("/{incident_id}/notes", status_code=201)
async def add_note(
    incident_id: uuid.UUID, data: NoteCreate, session: SessionDep, principal: IncidentResponder
) -> TimelineItem:
    incident = await _locked(session, incident_id)
    entry = await lifecycle.add_note(
        session=session, incident=incident, actor=principal.actor(), now=utcnow(), text=data.text
    )
    return TimelineItem.model_validate(entry, from_attributes=True)


@router.post("/{incident_id}/merge")
async def merge_incidents(
    incident_id: uuid.UUID,
    data: MergeRequest,
    request: Request,
    session: SessionDep,
    principal: IncidentResponder,
) -> ActionResult:
    # The merged incidents are closed too: the caller must be allowed to act on each of them.
    others = others_allowed(request)
    for source_id in data.source_incident_ids:
        source = await get_incident(session, source_id)
        if source is not None:
            await check_may_act(session, principal, source, others_allowed=others)
    target = await lifecycle.merge(
        session=session,
        target_id=incident_id,
        source_ids=data.source_incident_ids,
        actor=principal.actor(),
        now=utcnow(),
    )
    count = len(data.source_incident_ids)
    message = f"merged {count} incident(s) into incident {target.number}"
    return ActionResult(changed=True, message=message, incident=to_read(target))
