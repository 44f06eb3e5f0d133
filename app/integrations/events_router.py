"""Inbound events an admin can see and act on: those still queued (with their failed attempts)
and those set aside as dead, which can be retried or discarded."""

import logging
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit_log import record_event
from app.auth import Admin
from app.db import SessionDep
from app.db import driver_connection as driver
from app.errors import NotFound
from app.integrations import deadletter
from app.integrations.inbox import inbox_wakeup
from app.models import utcnow
from app.queue import after_commit
from app.schemas import Page

log = logging.getLogger(__name__)
router = APIRouter(prefix="/inbound-events", tags=["integrations"])

# Audit entries of retries and discards: the resource is the event's service.
AUDIT_RESOURCE = "inbound_event"
EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class InboundStatus(StrEnum):
    QUEUED = "queued"
    DEAD = "dead"


class InboundEventRead(BaseModel):
    id: int
    status: InboundStatus
    service_id: uuid.UUID
    action: str
    dedup_key: str
    trigger: str = Field(description="The stored trigger fields, as JSON text")
    received_at: datetime
    attempts: int = Field(description="Failed attempts to apply it")
    error: str | None = Field(description="The error of the last failed attempt")
    dead_at: datetime | None


class InboundEventRetried(BaseModel):
    id: int = Field(description="The event's id in the inbox, where it now waits again")
    status: InboundStatus = InboundStatus.QUEUED
    retried_id: int = Field(description="The id it had as a dead event")


def _read(event: deadletter.StoredEvent, status: InboundStatus) -> InboundEventRead:
    return InboundEventRead(
        id=event.id,
        status=status,
        service_id=event.service_id,
        action=event.action,
        dedup_key=event.dedup_key,
        trigger=event.trigger,
        received_at=event.received_at,
        attempts=event.attempts,
        error=event.error,
        dead_at=event.dead_at,
    )


def _audit(
    session: AsyncSession,
    action: str,
    event_id: int,
    moved: deadletter.Moved,
    actor: dict[str, Any],
) -> None:
    """The audit entry of an admin's retry or discard: the event's service is the resource."""
    details: dict[str, Any] = {
        "event_id": event_id,
        "action": moved.action,
        "dedup_key": moved.dedup_key,
    }
    if action == "retry":
        details["new_id"] = moved.id
    record_event(
        session,
        action=action,
        resource_type=AUDIT_RESOURCE,
        resource_id=moved.service_id,
        details=details,
        actor=actor,
    )


@router.get("")
async def list_inbound_events(
    session: SessionDep,
    _: Admin,
    status: InboundStatus = InboundStatus.DEAD,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> Page[InboundEventRead]:
    """Dead events (the default) or queued ones, oldest first."""
    events = await deadletter.listed(
        await driver(session),
        dead=status is InboundStatus.DEAD,
        after_id=int(cursor or 0),
        limit=limit,
    )
    more = str(events[-1].id) if len(events) == limit else None
    return Page[InboundEventRead](items=[_read(e, status) for e in events], next_cursor=more)


@router.post("/{event_id}/retry")
async def retry_inbound_event(
    event_id: EventId, session: SessionDep, principal: Admin
) -> InboundEventRetried:
    """Put a dead event back into the inbox, accepted anew now (after the events before it)."""
    now = utcnow()
    moved = await deadletter.retry(await driver(session), event_id=event_id, now=now)
    if moved is None:
        raise NotFound(f"dead inbound event {event_id} not found")
    log.info(
        "dead inbound event retried",
        extra={"event_id": event_id, "new_id": moved.id, "by": principal.actor()},
    )
    _audit(session, "retry", event_id, moved, principal.actor())
    after_commit(session, inbox_wakeup(now))
    return InboundEventRetried(id=moved.id, retried_id=event_id)


@router.delete("/{event_id}", status_code=204)
async def discard_inbound_event(event_id: EventId, session: SessionDep, principal: Admin) -> None:
    """Drop a dead event for good."""
    moved = await deadletter.discard(await driver(session), event_id=event_id)
    if moved is None:
        raise NotFound(f"dead inbound event {event_id} not found")
    log.info("dead inbound event discarded", extra={"event_id": event_id, "by": principal.actor()})
    _audit(session, "discard", event_id, moved, principal.actor())
