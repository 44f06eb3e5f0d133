"""Triggering (with dedup), acknowledging, resolving and reading incidents."""

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, field_error
from app.escalation import engine
from app.escalation.lifecycle import Action, Transition, transition
from app.events.schemas import EventType
from app.events.service import emit
from app.incidents.opening import deduplicated_entry, open_incident
from app.incidents.schemas import IncidentTrigger
from app.models import Incident, Service
from app.paging.wake import step_wakeup
from app.policies.service import frozen_snapshot, read_policy
from app.queue import after_commit
from app.routing import service as routing
from app.store import acknowledgements, listing, outbox, timeline, timers
from app.store.documents import document, incident_document
from app.store.incidents import Owner, add_alert, get_incident, insert_incidents, stop
from app.store.listing import Involvement
from app.vocabulary import Status


@dataclass(frozen=True)
class Triggered:
    incident: Incident
    created: bool


async def trigger(
    *,
    session: AsyncSession,
    service_id: uuid.UUID,
    data: IncidentTrigger,
    actor: dict[str, Any],
    now: datetime,
) -> Triggered:
    """Open an incident, or add the alert to the open one with the same dedup key."""
    dedup_key = data.dedup_key or uuid.uuid4().hex
    for _ in range(3):
        existing = await add_alert(session, service_id=service_id, dedup_key=dedup_key, now=now)
        if existing is not None:
            entry = deduplicated_entry(
                incident_id=existing,
                title=data.title,
                source=data.source,
                actor=actor,
                now=now,
            )
            await timeline.append(session, [entry])
            incident = await get_incident(session, existing, fresh=True)
            assert incident is not None
            return Triggered(incident, created=False)
        service = await session.get(Service, service_id)
        if service is None:
            raise field_error("service_id", f"unknown service {service_id}")
        route = await routing.route(session=session, service=service, data=data, now=now)
        policy = await read_policy(session=session, policy_id=route.policy_id)
        opening = open_incident(
            service_id=service_id,
            data=data,
            dedup_key=dedup_key,
            route=route,
            policy_id=policy.id,
            policy_name=policy.name,
            snapshot=frozen_snapshot(policy, urgency=route.urgency).to_json(),
            auto_resolve_seconds=service.auto_resolve_seconds,
            actor=actor,
            now=now,
        )
        if not await insert_incidents(session, [opening.row]):
            continue  # a concurrent trigger opened it first: add the alert to that one
        new_id = opening.id
        await timeline.append(session, opening.entries)
        if opening.pages:
            after_commit(session, step_wakeup(now))
        incident = await get_incident(session, new_id)
        assert incident is not None
        if not opening.suppressed:
            timers.on_triggered(session, incident.id, incident.auto_resolve_at)
            await emit(session, document(incident), EventType.TRIGGERED, at=now, actor=actor)
        return Triggered(incident, created=True)
    raise Conflict("the incident changed state while the alert was recorded; retry")


async def record_change(
    session: AsyncSession,
    incident: Incident,
    *,
    type: str,
    event_type: EventType,
    at: datetime,
    actor: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> timeline.Recorded:
    """A state change on the incident's timeline and its outbound event, in one transaction."""
    entry = await timeline.record(
        session, incident_id=incident.id, type=type, at=at, actor=actor, details=details
    )
    await emit(session, document(incident), event_type, at=at, actor=actor)
    return entry


def allowed(incident: Incident, action: Action, done: str) -> Transition:
    """What `action` does to the (locked) incident; a Conflict if a resolved one refuses it."""
    move = transition(Status(incident.status), action)
    if move.refused:
        raise Conflict(f"incident {incident.number} is resolved; it cannot be {done}")
    return move


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What acknowledging did: `changed` False if the incident was acknowledged already."""

    changed: bool
    number: int
    acknowledged: acknowledgements.Acknowledged | None = None


async def acknowledge_by_id(
    *,
    session: AsyncSession,
    incident_id: uuid.UUID,
    actor: dict[str, Any],
    now: datetime,
    authorize: Callable[[Owner], None] | None = None,
    user_id: uuid.UUID | None = None,
) -> Acknowledgement | None:
    """Stop paging: no page decided before this commits goes out. None: no such incident.

    The incident is locked, written once, and its pending pages (the levels that escalate only
    while unacknowledged) cancelled, each on the timeline after the acknowledgement.
    `authorize` raises if the actor may not act on the incident, given its owner as the lock
    reads it (with `user_id`'s role in the owning team).
    """
    target = await acknowledgements.lock_for_ack(session, incident_id, user_id)
    if target is None:
        return None
    if authorize is not None:
        authorize(target.owner)
    move = transition(Status(target.status), Action.ACKNOWLEDGE)
    if move.refused:
        raise Conflict(f"incident {target.number} is resolved; it cannot be acknowledged")
    if not move.changed:
        return Acknowledgement(False, target.number)
    seconds = target.ack_timeout_seconds
    ack_timeout_at = now + timedelta(seconds=seconds) if seconds else None
    level = target.policy.level(target.level)
    acked = await acknowledgements.write_acknowledgement(
        session,
        incident_id,
        status=move.to,
        actor=actor,
        now=now,
        ack_timeout_at=ack_timeout_at,
        stop_steps=not engine.holds(level.condition, Status.ACKNOWLEDGED),
    )
    timers.arm_ack_timeout(session, incident_id, ack_timeout_at)
    cancelled = [
        timeline.cancelled_page(page, at=now, reason="incident acknowledged")
        for page in acked.cancelled
    ]
    entry = timeline.Entry(
        incident_id,
        "acknowledged",
        now,
        actor,
        {"cancelled_notifications": len(cancelled)},
    )
    await timeline.append(session, [entry, *cancelled])
    await emit(session, incident_document(acked.row), EventType.ACKNOWLEDGED, at=now, actor=actor)
    return Acknowledgement(True, target.number, acked)


async def acknowledge(
    *, session: AsyncSession, incident: Incident, actor: dict[str, Any], now: datetime
) -> bool:
    """`acknowledge_by_id` for an incident loaded (and locked) as an ORM object, which is left
    as the acknowledgement wrote it. False if already acked."""
    if not allowed(incident, Action.ACKNOWLEDGE, "acknowledged").changed:
        return False
    await session.flush()  # the ORM's pending changes first: the row is written below
    done = await acknowledge_by_id(session=session, incident_id=incident.id, actor=actor, now=now)
    assert done is not None  # the caller holds the row locked
    if done.acknowledged is None:
        return False
    acked = done.acknowledged
    row = acked.row
    for name in _ACK_WRITES:
        set_committed_value(incident, name, getattr(row, name))
    set_committed_value(incident, "first_acknowledged_at", acked.first_acknowledged_at)
    set_committed_value(incident, "first_acknowledged_by", acked.first_acknowledged_by)
    set_committed_value(incident, "step_token", acked.step_token)
    return True


# The columns an acknowledgement writes, besides the first response and the step token.
_ACK_WRITES = (
    "status",
    "acknowledged_at",
    "acknowledged_by",
    "updated_at",
    "snoozed_until",
    "ack_timeout_at",
    "next_due_at",
)


async def resolve(
    *, session: AsyncSession, incident: Incident, actor: dict[str, Any], now: datetime
) -> bool:
    """Stop everything and free the dedup key. False if already resolved."""
    move = allowed(incident, Action.RESOLVE, "resolved")
    if not move.changed:
        return False
    with session.no_autoflush:  # as in `acknowledge`: one write of the locked row
        incident.status = move.to
        incident.resolved_at = now
        incident.resolved_by = actor
        incident.updated_at = now
        timers.on_resolved(incident)
        stop(incident, now=now)
        cancelled = await outbox.cancel_pending(
            session, incident.id, only_unacknowledged=False, at=now, reason="incident resolved"
        )
        await record_change(
            session,
            incident,
            type="resolved",
            event_type=EventType.RESOLVED,
            at=now,
            actor=actor,
            details={"cancelled_notifications": len(cancelled)},
        )
    await timeline.append(session, cancelled)
    await session.flush()
    return True


def _encode_cursor(incident: Incident) -> str:
    raw = f"{incident.created_at.isoformat()}|{incident.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, _, id_ = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(id_)
    except (ValueError, UnicodeDecodeError) as exc:
        raise field_error("cursor", "not a cursor this API returned") from exc


async def list_incidents(
    *,
    session: AsyncSession,
    statuses: list[str],
    service_ids: list[uuid.UUID],
    since: datetime | None,
    limit: int,
    cursor: str | None,
    urgencies: list[str] | None = None,
    priorities: list[str] | None = None,
    involving: Involvement | None = None,
) -> tuple[list[Incident], str | None]:
    """Newest first, filtered, one page at a time."""
    rows = await listing.page_of_incidents(
        session,
        statuses=statuses,
        service_ids=service_ids,
        since=since,
        after=_decode_cursor(cursor) if cursor else None,
        limit=limit + 1,
        urgencies=urgencies,
        priorities=priorities,
        involving=involving,
    )
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
