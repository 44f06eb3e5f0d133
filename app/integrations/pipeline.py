"""The one way an inbound event reaches an incident, whichever source it came from.

A source's parser (`app/integrations/sources.py`) turns a body into events; every event is then
applied by `apply`, in one of two ways chosen per source:
- in the inbox: accepted with one INSERT and applied by the drain (`drain.py`) in the order the
  events arrived; the answer only says it is stored;
- in the request (`accept`): applied before the answer, which carries the outcome (the REST
  trigger's 201/200 with the incident, a webhook's per-alert outcomes). An event that cannot be
  applied now is not lost: it is queued into the inbox with its error, where the drain tries it
  again and, failing that, sets it aside as dead (`deadletter.py`), as for the inbox's own. An
  event whose dedup key still has events waiting in the inbox waits behind them (order kept).
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import is_connection_error
from app.incidents import lifecycle
from app.incidents import service as incidents
from app.integrations import receipts
from app.integrations.deadletter import describe
from app.integrations.inbox import inbox_wakeup
from app.integrations.ingest import Applied, Event
from app.models import InboundEvent
from app.queue import after_commit, forget_jobs, jobs_asked
from app.store.lookups import lock_targeted

log = logging.getLogger(__name__)


async def apply(
    *,
    session: AsyncSession,
    service_id: uuid.UUID,
    event: Event,
    actor: dict[str, Any],
    now: datetime,
) -> Applied:
    """Apply one event with PagerDuty's dedup semantics on `service_id` (caller commits).

    A trigger opens an incident or adds to the open one with its dedup key; acknowledge, resolve
    and note act on the incident the event targets, and are accepted and dropped when there is
    none. What a sender asked a handle for (`event.request_id`) gets its receipt.
    """
    applied = await _apply(
        session=session, service_id=service_id, event=event, actor=actor, now=now
    )
    if event.request_id is not None:
        await receipts.record(
            session, request_id=event.request_id, service_id=service_id, applied=applied, now=now
        )
    return applied


async def _apply(
    *,
    session: AsyncSession,
    service_id: uuid.UUID,
    event: Event,
    actor: dict[str, Any],
    now: datetime,
) -> Applied:
    if event.action == "trigger":
        assert event.trigger is not None
        result = await incidents.trigger(
            session=session, service_id=service_id, data=event.trigger, actor=actor, now=now
        )
        outcome: Any = "created" if result.created else "deduplicated"
        return Applied(event.action, event.dedup_key, result.incident.id, outcome, result.incident)
    # The incident named, else the open one of the dedup key; a note may go to a closed one.
    incident = await lock_targeted(
        session,
        service_id=service_id,
        incident_id=event.incident_id,
        dedup_key=event.dedup_key,
        or_latest=event.action == "note",
    )
    if incident is None:
        return Applied(event.action, event.dedup_key, None, "dropped")
    if event.action == "note":
        assert event.note is not None
        await lifecycle.add_note(
            session=session, incident=incident, actor=actor, now=now, text=event.note
        )
        changed = True
    elif incident.status == "resolved":  # named by id: nothing left to acknowledge or resolve
        changed = False
    else:
        act = incidents.acknowledge if event.action == "acknowledge" else incidents.resolve
        changed = await act(session=session, incident=incident, actor=actor, now=now)
    outcome = "changed" if changed else "unchanged"
    return Applied(event.action, event.dedup_key, incident.id, outcome, incident)


async def _waiting(session: AsyncSession, service_id: uuid.UUID, dedup_key: str) -> bool:
    """Whether the inbox holds events of this dedup key (they go first)."""
    query = (
        select(col(InboundEvent.id))
        .where(col(InboundEvent.service_id) == service_id)
        .where(col(InboundEvent.dedup_key) == dedup_key)
        .limit(1)
    )
    return (await session.scalars(query)).first() is not None


async def queue(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    event: Event,
    actor: dict[str, Any],
    now: datetime,
    error: str | None = None,
) -> Applied:
    """Put the event into the inbox for the drain (`error`: a first attempt that failed)."""
    session.add(
        InboundEvent(
            service_id=service_id,
            action=event.action,
            dedup_key=event.dedup_key,
            trigger=event.fields(),
            actor=actor,
            received_at=now,
            attempts=0 if error is None else 1,
            last_error=error,
            request_id=event.request_id,
        )
    )
    await session.flush()
    after_commit(session, inbox_wakeup(now))
    return Applied(event.action, event.dedup_key, None, "queued")


async def accept(
    *,
    session: AsyncSession,
    service_id: uuid.UUID,
    events: Sequence[Event],
    actor: dict[str, Any],
    now: datetime,
) -> list[Applied]:
    """Apply each event in the request, each in a savepoint of its own; one that fails, or
    whose dedup key has events waiting in the inbox, is queued into the inbox instead."""
    results = []
    for event in events:
        if await _waiting(session, service_id, event.dedup_key):
            results.append(
                await queue(session, service_id=service_id, event=event, actor=actor, now=now)
            )
            continue
        mark = jobs_asked(session)
        savepoint = await session.begin_nested()
        try:
            applied = await apply(
                session=session, service_id=service_id, event=event, actor=actor, now=now
            )
        except Exception as exc:
            if is_connection_error(exc):
                raise
            await savepoint.rollback()
            forget_jobs(session, mark)
            error = describe(exc)
            log.warning(
                "inbound event failed in the request; queued for another attempt",
                extra={"service_id": str(service_id), "dedup_key": event.dedup_key, "error": error},
                exc_info=exc,
            )
            results.append(
                await queue(
                    session,
                    service_id=service_id,
                    event=event,
                    actor=actor,
                    now=now,
                    error=error,
                )
            )
            continue
        await savepoint.commit()
        results.append(applied)
    return results
