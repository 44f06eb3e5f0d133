"""Beyond ack and resolve: un-acknowledge, snooze, escalate by hand, reassign, notes, merge, timers.

Every action runs with the incident row locked (FOR UPDATE), so concurrent actions serialize.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InvalidInput, NotFound, field_error
from app.escalation import engine
from app.escalation.lifecycle import Action, transition
from app.escalation.snapshot import LevelSnapshot, PolicySnapshot, TargetSnapshot
from app.events.schemas import EventType
from app.incidents.action_schemas import EscalateRequest, ReassignRequest
from app.incidents.service import (
    acknowledge,
    allowed,
    record_change,
    resolve,
)
from app.models import EscalationPolicy, Incident, User
from app.paging.step import EARLY_TOLERANCE, advance
from app.paging.wake import step_wakeup
from app.policies.service import frozen_snapshot, read_policy
from app.queue import after_commit
from app.store import outbox, timeline, timers
from app.store.incidents import lock_incident, lock_incidents, place, stop
from app.vocabulary import Status

# A reassignment straight to a user pages them through their own rules; after this long with no
# acknowledgement the chain is recorded as exhausted (the incident stays open).
DIRECT_ESCALATE_AFTER_SECONDS = 1800
AUTO_RESOLVER = {"type": "system", "name": "auto-resolve"}


@dataclass(frozen=True)
class Outcome:
    changed: bool
    message: str


async def restart(
    session: AsyncSession, incident: Incident, *, now: datetime, reason: str
) -> list[timeline.Entry]:
    """Back to triggered at level 1, loop 0, now: pending pages are cancelled (their timeline
    entries are returned, to record after the change)."""
    incident.status = Status.TRIGGERED
    incident.acknowledged_at = incident.acknowledged_by = None
    incident.ack_timeout_at = incident.snoozed_until = None
    incident.exhausted = False
    incident.escalation_epoch += 1  # fresh page idempotency keys: level 1 is paged again
    place(incident, engine.start(now), now=now)
    cancelled = await outbox.cancel_pending(
        session, incident.id, only_unacknowledged=False, at=now, reason=reason
    )
    after_commit(session, step_wakeup(now))
    await session.flush()
    return cancelled


async def unacknowledge(
    *, session: AsyncSession, incident: Incident, actor: dict[str, Any], now: datetime
) -> Outcome:
    """Return an acknowledged incident to triggered; escalation restarts at level 1 now."""
    if not allowed(incident, Action.UNACKNOWLEDGE, "unacknowledged").changed:
        return Outcome(False, "not acknowledged; nothing changed")
    cancelled = await restart(session, incident, now=now, reason="escalation restarted by hand")
    await record_change(
        session,
        incident,
        type="unacknowledged",
        event_type=EventType.UNACKNOWLEDGED,
        at=now,
        actor=actor,
        details={"reason": "unacknowledged by hand", "cancelled_notifications": len(cancelled)},
    )
    await timeline.append(session, cancelled)
    return Outcome(True, "unacknowledged; escalation restarted at level 1")


async def snooze(
    *,
    session: AsyncSession,
    incident: Incident,
    actor: dict[str, Any],
    now: datetime,
    duration_seconds: int,
) -> Outcome:
    """Acknowledged and silent until now + duration, then re-triggered at level 1."""
    allowed(incident, Action.SNOOZE, "snoozed")
    if incident.status == Status.TRIGGERED:
        await acknowledge(session=session, incident=incident, actor=actor, now=now)
    # Silence means every level, `unresolved` ones included: stop the chain, cancel every page.
    cancelled = await outbox.cancel_pending(
        session, incident.id, only_unacknowledged=False, at=now, reason="incident snoozed"
    )
    stop(incident, now=now)
    until = now + timedelta(seconds=duration_seconds)
    incident.snoozed_until = until
    timers.set_ack_timeout(session, incident, until)
    incident.updated_at = now
    await timeline.record(
        session,
        incident_id=incident.id,
        type="snoozed",
        at=now,
        actor=actor,
        details={
            "until": until.isoformat(),
            "duration_seconds": duration_seconds,
            "cancelled_notifications": len(cancelled),
        },
    )
    await timeline.append(session, cancelled)
    await session.flush()
    return Outcome(True, f"snoozed until {until.isoformat()}")


def _escalation_target(incident: Incident, levels: int, data: EscalateRequest) -> int:
    if data.level is None:
        target = incident.escalation_level + 1
        if target > levels:
            raise Conflict(
                f"incident {incident.number} is at its last level ({levels}); "
                "name a level to page it again"
            )
        return target
    if data.level > levels:
        raise field_error("level", f"the incident's escalation policy has levels 1 to {levels}")
    return data.level


async def escalate(
    *,
    session: AsyncSession,
    incident: Incident,
    actor: dict[str, Any],
    now: datetime,
    data: EscalateRequest,
) -> Outcome:
    """Page a level now (the next one by default), whatever the timers say.

    Idempotent per position: with `from_level`, a request made from a level the incident has
    left does nothing; asking for the level whose timer is running does nothing either.
    """
    allowed(incident, Action.ESCALATE, "escalated")
    policy = PolicySnapshot.from_json(incident.policy_snapshot)
    current = incident.escalation_level
    if data.from_level is not None and data.from_level != current:
        return Outcome(False, f"already moved from level {data.from_level}; now at level {current}")
    target = _escalation_target(incident, len(policy.levels), data)
    if target == current and incident.next_due_at is not None:
        return Outcome(False, f"already at level {current}; nothing changed")
    incident.escalation_epoch += 1  # the level is paged afresh even if it was paged before
    incident.exhausted = False
    await advance(session, incident, due_at=now, now=now, jump_to=target, actor=actor)
    return Outcome(True, f"escalated to level {target}")


async def _reassignment(
    session: AsyncSession, data: ReassignRequest, *, urgency: str
) -> tuple[uuid.UUID | None, PolicySnapshot, dict[str, Any]]:
    if (data.escalation_policy_id is None) == (data.user_id is None):
        message = "send exactly one of escalation_policy_id and user_id"
        raise InvalidInput(
            message,
            details=[
                {"field": "escalation_policy_id", "message": message},
                {"field": "user_id", "message": message},
            ],
        )
    if data.escalation_policy_id is not None:
        if await session.get(EscalationPolicy, data.escalation_policy_id) is None:
            raise field_error(
                "escalation_policy_id", f"unknown escalation policy {data.escalation_policy_id}"
            )
        policy = await read_policy(session=session, policy_id=data.escalation_policy_id)
        to = {"type": "escalation_policy", "id": str(policy.id), "name": policy.name}
        return policy.id, frozen_snapshot(policy, urgency=urgency), to
    assert data.user_id is not None
    user = await session.get(User, data.user_id)
    if user is None:
        raise field_error("user_id", f"unknown user {data.user_id}")
    level = LevelSnapshot(
        escalate_after_seconds=DIRECT_ESCALATE_AFTER_SECONDS,
        targets=(TargetSnapshot(type="user", id=str(user.id)),),
    )
    snapshot = PolicySnapshot(levels=(level,), repeat=0, id=None, name=f"direct to {user.name}")
    return None, snapshot, {"type": "user", "id": str(user.id), "name": user.name}


async def reassign(
    *,
    session: AsyncSession,
    incident: Incident,
    actor: dict[str, Any],
    now: datetime,
    data: ReassignRequest,
) -> Outcome:
    """Functional escalation: a new snapshot (a policy, or one level paging a user), level 1 now."""
    allowed(incident, Action.REASSIGN, "reassigned")
    policy_id, snapshot, to = await _reassignment(session, data, urgency=incident.urgency)
    previous = {
        "policy_id": str(incident.policy_id) if incident.policy_id else None,
        "policy_name": incident.policy_snapshot.get("name", ""),
        "status": incident.status,
    }
    incident.policy_id = policy_id
    incident.policy_snapshot = snapshot.to_json()
    cancelled = await restart(session, incident, now=now, reason=f"reassigned to {to['name']}")
    await record_change(
        session,
        incident,
        type="reassigned",
        event_type=EventType.REASSIGNED,
        at=now,
        actor=actor,
        details={"from": previous, "to": to, "cancelled_notifications": len(cancelled)},
    )
    await timeline.append(session, cancelled)
    return Outcome(True, f"reassigned to {to['name']}; escalation restarted at level 1")


async def run_ack_timeout(
    *, session: AsyncSession, incident_id: uuid.UUID, due_at: datetime, now: datetime
) -> None:
    """The ack-timeout (or snooze-end) job: fenced by the instant stored on the incident."""
    incident = await lock_incident(session, incident_id)
    if incident is None or incident.ack_timeout_at != due_at:
        return
    if not transition(Status(incident.status), Action.ACK_TIMEOUT).changed:
        return
    if due_at - now > EARLY_TOLERANCE:
        after_commit(
            session, timers.timer_job(timers.ACK_TIMEOUT_JOB, incident_id, due_at, suffix=":early")
        )
        return
    reason = "snooze ended" if incident.snoozed_until is not None else "ack timeout"
    acknowledged_by = incident.acknowledged_by
    cancelled = await restart(session, incident, now=now, reason=reason)
    await record_change(
        session,
        incident,
        type="unacknowledged",
        event_type=EventType.UNACKNOWLEDGED,
        at=now,
        details={
            "reason": reason,
            "due_at": due_at.isoformat(),
            "acknowledged_by": acknowledged_by,
            "cancelled_notifications": len(cancelled),
        },
    )
    await timeline.append(session, cancelled)


async def run_auto_resolve(
    *, session: AsyncSession, incident_id: uuid.UUID, due_at: datetime, now: datetime
) -> None:
    """The auto-resolve job: fenced by the instant stored on the incident."""
    incident = await lock_incident(session, incident_id)
    if incident is None or incident.auto_resolve_at != due_at:
        return
    if not transition(Status(incident.status), Action.RESOLVE).changed:
        return
    if due_at - now > EARLY_TOLERANCE:
        after_commit(
            session, timers.timer_job(timers.AUTO_RESOLVE_JOB, incident_id, due_at, suffix=":early")
        )
        return
    await resolve(session=session, incident=incident, actor=AUTO_RESOLVER, now=now)


async def add_note(
    *, session: AsyncSession, incident: Incident, actor: dict[str, Any], now: datetime, text: str
) -> timeline.Recorded:
    """A free-text note on the timeline (resolved incidents take notes too: postmortems)."""
    entry = await record_change(
        session,
        incident,
        type="note",
        event_type=EventType.NOTE_ADDED,
        at=now,
        actor=actor,
        details={"text": text},
    )
    await session.flush()
    return entry


async def merge(
    *,
    session: AsyncSession,
    target_id: uuid.UUID,
    source_ids: list[uuid.UUID],
    actor: dict[str, Any],
    now: datetime,
) -> Incident:
    """Fold duplicates into one incident: sources resolved and linked, alert counts summed."""
    if target_id in source_ids:
        raise field_error("source_incident_ids", "an incident cannot be merged into itself")
    # Locked in id order, so two merges over overlapping incidents never deadlock.
    rows = await lock_incidents(session, [target_id, *source_ids])
    by_id = {row.id: row for row in rows}
    target = by_id.get(target_id)
    if target is None:
        raise NotFound(f"incident {target_id} not found")
    missing = [str(i) for i in source_ids if i not in by_id]
    if missing:
        raise field_error("source_incident_ids", f"unknown incident(s) {', '.join(missing)}")
    if target.status == Status.RESOLVED:
        raise Conflict(f"incident {target.number} is resolved; merge into an open incident")
    sources = sorted((by_id[i] for i in source_ids), key=lambda s: s.number or 0)
    for source in sources:
        allowed(source, Action.MERGE, "merged")
    merged = []
    for source in sources:
        source.merged_into_id = target.id  # first, so the resolved event carries the link
        await resolve(session=session, incident=source, actor=actor, now=now)
        merged.append({"id": str(source.id), "number": source.number, "alerts": source.alert_count})
        await timeline.record(
            session,
            incident_id=source.id,
            type="merged",
            at=now,
            actor=actor,
            details={"into": {"id": str(target.id), "number": target.number}},
        )
    added = sum(source.alert_count for source in sources)
    target.alert_count += added
    target.updated_at = now
    await timeline.record(
        session,
        incident_id=target.id,
        type="merged",
        at=now,
        actor=actor,
        details={"sources": merged, "alerts_added": added},
    )
    await session.flush()
    return target
