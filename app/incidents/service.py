"""Triggering (with dedup), acknowledging, resolving and reading incidents."""

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, any_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, field_error
from app.escalation import engine
from app.escalation.snapshot import PolicySnapshot, Status
from app.events.schemas import EventType
from app.events.service import emit, record_change
from app.incidents import timeline, timers
from app.incidents.opening import deduplicated_entry, open_incident
from app.incidents.schemas import EscalationRead, IncidentRead, IncidentTrigger
from app.models import OPEN_STATUSES, Incident, Notification, Service, TimelineEntry
from app.paging.wake import step_wakeup
from app.policies.service import frozen_snapshot, read_policy
from app.queue import after_commit
from app.routing import service as routing

_OPEN_DEDUP_WHERE = text("status IN ('triggered', 'acknowledged')")


@dataclass(frozen=True)
class Triggered:
    incident: Incident
    created: bool


def to_read(incident: Incident) -> IncidentRead:
    """The API view of an incident."""
    snapshot = incident.policy_snapshot or {}
    assert incident.number is not None
    return IncidentRead(
        id=incident.id,
        number=incident.number,
        service_id=incident.service_id,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        urgency=incident.urgency,
        dedup_key=incident.dedup_key,
        source=incident.source,
        details=incident.details,
        alert_count=incident.alert_count,
        escalation=EscalationRead(
            level=incident.escalation_level,
            loop=incident.escalation_loop,
            next_due_at=incident.next_due_at,
            exhausted=incident.exhausted,
            policy_id=incident.policy_id,
            policy_name=snapshot.get("name", ""),
        ),
        created_at=incident.created_at,
        updated_at=incident.updated_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by,
        snoozed_until=incident.snoozed_until,
        ack_timeout_at=incident.ack_timeout_at,
        auto_resolve_at=incident.auto_resolve_at,
        merged_into_id=incident.merged_into_id,
    )


async def _add_alert(
    session: AsyncSession, *, service_id: uuid.UUID, dedup_key: str, now: datetime
) -> uuid.UUID | None:
    query = (
        update(Incident)
        .where(col(Incident.service_id) == service_id, col(Incident.dedup_key) == dedup_key)
        .where(col(Incident.status).in_(OPEN_STATUSES))
        .values(alert_count=col(Incident.alert_count) + 1, updated_at=now)
        .returning(col(Incident.id))
    )
    return (await session.execute(query)).scalar_one_or_none()


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
        existing = await _add_alert(session, service_id=service_id, dedup_key=dedup_key, now=now)
        if existing is not None:
            entry = deduplicated_entry(
                incident_id=existing,
                title=data.title,
                source=data.source,
                actor=actor,
                now=now,
            )
            session.add(TimelineEntry(**entry))
            incident = await session.get(Incident, existing, populate_existing=True)
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
        inserted = await session.execute(
            insert(Incident)
            .values(**opening.row)
            .on_conflict_do_nothing(
                index_elements=["service_id", "dedup_key"], index_where=_OPEN_DEDUP_WHERE
            )
            .returning(col(Incident.id))
        )
        if inserted.scalar_one_or_none() is None:
            continue  # a concurrent trigger opened it first: add the alert to that one
        new_id = opening.id
        session.add_all(TimelineEntry(**entry) for entry in opening.entries)
        if opening.pages:
            after_commit(session, step_wakeup(now))
        incident = await session.get(Incident, new_id)
        assert incident is not None
        if not opening.suppressed:
            timers.on_triggered(session, incident.id, incident.auto_resolve_at)
            await emit(session, incident, EventType.TRIGGERED, at=now, actor=actor)
        return Triggered(incident, created=True)
    raise Conflict("the incident changed state while the alert was recorded; retry")


async def cancel_pending(
    session: AsyncSession,
    incident_id: uuid.UUID,
    *,
    only_unacknowledged: bool,
    at: datetime,
    reason: str,
) -> list[dict[str, Any]]:
    """Cancel the incident's pending pages; one `notification_cancelled` row each, to record
    with `record_cancelled` after the change that cancelled them."""
    query = (
        update(Notification)
        .where(col(Notification.incident_id) == incident_id, col(Notification.status) == "pending")
        .values(status="cancelled")
        .returning(
            col(Notification.id),
            col(Notification.user_id),
            col(Notification.level),
            col(Notification.loop),
            col(Notification.channel),
        )
    )
    if only_unacknowledged:
        query = query.where(col(Notification.condition) == "unacknowledged")
    return [
        timeline.cancelled_page(
            incident_id=incident_id,
            at=at,
            notification_id=notification_id,
            user_id=user_id,
            level=level,
            loop=loop,
            channel=channel,
            reason=reason,
        )
        for notification_id, user_id, level, loop, channel in await session.execute(query)
    ]


async def record_cancelled(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Put cancelled pages on the timeline, after the entries already added to the session."""
    if rows:
        await session.flush()
        await timeline.record_many(session, rows)


async def lock_incident(session: AsyncSession, incident_id: uuid.UUID) -> Incident | None:
    """The incident row, locked for update."""
    return await session.get(Incident, incident_id, with_for_update=True, populate_existing=True)


async def acknowledge(
    *, session: AsyncSession, incident: Incident, actor: dict[str, Any], now: datetime
) -> bool:
    """Stop paging: no page decided before this commits goes out. False if already acked."""
    if incident.status == "resolved":
        raise Conflict(f"incident {incident.number} is resolved; it cannot be acknowledged")
    if incident.status == "acknowledged":
        return False
    incident.status = "acknowledged"
    incident.acknowledged_at = now
    incident.acknowledged_by = actor
    incident.updated_at = now
    await timers.on_acknowledged(session, incident, actor, now)
    cancelled = await cancel_pending(
        session, incident.id, only_unacknowledged=True, at=now, reason="incident acknowledged"
    )
    snapshot = PolicySnapshot.from_json(incident.policy_snapshot)
    level = snapshot.level(incident.escalation_level)
    if not engine.holds(level.condition, Status.ACKNOWLEDGED):
        incident.next_due_at = None
        incident.step_token += 1
    await record_change(
        session,
        incident,
        type="acknowledged",
        event_type=EventType.ACKNOWLEDGED,
        at=now,
        actor=actor,
        details={"cancelled_notifications": len(cancelled)},
    )
    await record_cancelled(session, cancelled)
    await session.flush()
    return True


async def resolve(
    *, session: AsyncSession, incident: Incident, actor: dict[str, Any], now: datetime
) -> bool:
    """Stop everything and free the dedup key. False if already resolved."""
    if incident.status == "resolved":
        return False
    incident.status = "resolved"
    incident.resolved_at = now
    incident.resolved_by = actor
    incident.updated_at = now
    timers.on_resolved(incident)
    incident.next_due_at = None
    incident.step_token += 1
    cancelled = await cancel_pending(
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
    await record_cancelled(session, cancelled)
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


@dataclass(frozen=True, slots=True)
class Involvement:
    """ "Mine": incidents that paged this user, or whose policy names the user or a schedule
    the user is on call for now."""

    user_id: uuid.UUID
    schedule_ids: tuple[uuid.UUID, ...] = ()


def _involving(who: Involvement) -> Any:
    # One OR of indexable conditions (ix_notifications_user_incident gives the paged ids once,
    # ix_incidents_policy_snapshot the policies naming the viewer): PostgreSQL combines them
    # when few incidents are the viewer's and walks the newest first when most are.
    paged_ids = select(col(Notification.incident_id)).where(
        col(Notification.user_id) == who.user_id
    )
    paged = col(Incident.id) == any_(func.array(paged_ids.scalar_subquery()))
    targets = [{"type": "user", "id": str(who.user_id)}]
    targets += [{"type": "schedule", "id": str(sid)} for sid in who.schedule_ids]
    named = [
        col(Incident.policy_snapshot).contains({"levels": [{"targets": [target]}]})
        for target in targets
    ]
    return or_(paged, *named)


async def list_incidents(
    *,
    session: AsyncSession,
    statuses: list[str],
    service_ids: list[uuid.UUID],
    since: datetime | None,
    limit: int,
    cursor: str | None,
    urgencies: list[str] | None = None,
    involving: Involvement | None = None,
) -> tuple[list[Incident], str | None]:
    """Newest first, filtered, one page at a time."""
    query = select(Incident)
    if statuses:
        query = query.where(col(Incident.status).in_(statuses))
    if service_ids:
        query = query.where(col(Incident.service_id).in_(service_ids))
    if urgencies:
        query = query.where(col(Incident.urgency).in_(urgencies))
    if involving is not None:
        query = query.where(_involving(involving))
    if since is not None:
        query = query.where(col(Incident.created_at) >= since)
    if cursor:
        created, id_ = _decode_cursor(cursor)
        query = query.where(
            or_(
                col(Incident.created_at) < created,
                and_(col(Incident.created_at) == created, col(Incident.id) < id_),
            )
        )
    query = query.order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def count_by_status(*, session: AsyncSession, status: str) -> int:
    """How many incidents have this status (e.g. triggered, for the console's tab title)."""
    query = select(func.count()).select_from(Incident).where(col(Incident.status) == status)
    return int(await session.scalar(query) or 0)


async def ids_by_number(*, session: AsyncSession, numbers: list[int]) -> dict[int, uuid.UUID]:
    """The ids of the incidents with these numbers (unknown numbers are left out)."""
    if not numbers:
        return {}
    query = select(col(Incident.number), col(Incident.id)).where(col(Incident.number).in_(numbers))
    return {number: id_ for number, id_ in await session.execute(query) if number is not None}
