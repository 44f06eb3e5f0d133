"""The escalation step: load the incident, ask the core, persist its decisions and the outbox."""

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import metrics
from app.escalation import engine
from app.escalation.snapshot import PolicySnapshot, Status
from app.events.schemas import EventType
from app.events.service import emit
from app.incidents import timeline
from app.incidents.service import lock_incident
from app.models import Incident, Notification, utcnow
from app.paging.chains import supersede_older_chains
from app.paging.targets import LevelPlan, plan_levels
from app.queue import after_commit, delivery_job, step_job

log = logging.getLogger(__name__)

# A job that fires earlier than this before its due time (clock skew between hosts) waits.
EARLY_TOLERANCE = timedelta(milliseconds=20)
_INSERT_PAGES = (
    insert(Notification)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(col(Notification.id), col(Notification.due_at))
)


async def _write_pages(
    session: AsyncSession,
    incident: Incident,
    decision: engine.EnterLevel,
    plan: LevelPlan,
    condition: str,
) -> None:
    created_at = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "incident_id": incident.id,
            "level": decision.level,
            "loop": decision.loop,
            "condition": condition,
            "target_type": page.target_type,
            "user_id": page.user_id,
            "contact_method_id": page.contact_method_id,
            "channel": page.channel,
            "address": page.address,
            "idempotency_key": (
                f"{incident.id}:{incident.escalation_epoch}:{decision.loop}:{decision.level}:"
                f"{page.target_index}:{page.rule_key}"
            ),
            "status": "pending",
            "due_at": decision.at + timedelta(seconds=page.delay_seconds),
            "attempts": 0,
            "created_at": created_at,
        }
        for page in plan.pages
    ]
    if not rows:
        return
    # One cached statement run with many parameter sets (not a per-call multi-row VALUES).
    written = await session.execute(_INSERT_PAGES, rows)
    for notification_id, due_at in written:
        after_commit(session, delivery_job(notification_id, 0, due_at))


async def advance(
    session: AsyncSession,
    incident: Incident,
    *,
    due_at: datetime,
    now: datetime,
    jump_to: int | None = None,
    actor: dict[str, Any] | None = None,
) -> None:
    """Apply what the core decides for the step due at `due_at` (the incident is locked).

    With `jump_to`, a person moves the incident to that level at `due_at` instead.
    """
    policy = PolicySnapshot.from_json(incident.policy_snapshot)
    plans = await plan_levels(session, policy, due_at, urgency=incident.urgency)
    unreachable = frozenset(n for n, plan in plans.items() if not plan.pages)
    position = engine.Position(
        level=incident.escalation_level,
        loop=incident.escalation_loop,
        entered_at=incident.level_entered_at,
        due_at=due_at,
    )
    if jump_to is None:
        result = engine.on_due(policy, position, Status(incident.status), unreachable, now)
    else:
        result = engine.jump(policy, position, jump_to, due_at, unreachable)
    for decision in result.decisions:
        if isinstance(decision, engine.EnterLevel):
            plan = plans[decision.level]
            condition = policy.level(decision.level).condition.value
            await _write_pages(session, incident, decision, plan, condition)
            incident.max_level_reached = max(incident.max_level_reached, decision.level)
            timeline.record(
                session,
                incident_id=incident.id,
                type="escalated",
                at=decision.at,
                actor=actor,
                details={
                    "from_level": decision.from_level,
                    "level": decision.level,
                    "loop": decision.loop,
                    "pages": len(plan.pages),
                    "lateness_ms": round((now - due_at).total_seconds() * 1000),
                    "unreachable": plan.unreachable,
                    "on_call": plan.on_call,
                },
            )
            await supersede_older_chains(
                session,
                incident_id=incident.id,
                level=decision.level,
                loop=decision.loop,
                user_ids=[page.user_id for page in plan.pages],
                at=decision.at,
            )
        elif isinstance(decision, engine.SkipLevel):
            timeline.record(
                session,
                incident_id=incident.id,
                type="level_skipped",
                at=decision.at,
                details={
                    "level": decision.level,
                    "loop": decision.loop,
                    "reasons": plans[decision.level].unreachable,
                },
            )
        elif isinstance(decision, engine.Repeat):
            timeline.record(
                session,
                incident_id=incident.id,
                type="repeated",
                at=decision.at,
                details={"loop": decision.loop},
            )
        else:
            incident.exhausted = True
            timeline.record(
                session,
                incident_id=incident.id,
                type="exhausted",
                at=decision.at,
                details={"level": result.position.level, "loop": result.position.loop},
            )
    new = result.position
    log.info(
        "escalation step",
        extra={
            "incident_id": str(incident.id),
            "decisions": [type(d).__name__ for d in result.decisions],
            "level": new.level,
            "loop": new.loop,
            "lateness_ms": round((now - due_at).total_seconds() * 1000),
        },
    )
    incident.escalation_level, incident.escalation_loop = new.level, new.loop
    incident.level_entered_at, incident.next_due_at = new.entered_at, new.due_at
    incident.step_token += 1
    incident.updated_at = now
    if new.due_at is not None:
        after_commit(session, step_job(incident.id, incident.step_token, new.due_at))
    if any(isinstance(d, engine.EnterLevel) and d.from_level for d in result.decisions):
        await emit(session, incident, EventType.ESCALATED, at=now, actor=actor)
    await session.flush()


async def run_step(
    *, session: AsyncSession, incident_id: uuid.UUID, token: int, now: datetime
) -> None:
    """The step job: fenced by `token`, so a stale or repeated job does nothing."""
    incident = await lock_incident(session, incident_id)
    if incident is None or incident.step_token != token or incident.next_due_at is None:
        return
    due_at = incident.next_due_at
    if due_at - now > EARLY_TOLERANCE:
        after_commit(session, step_job(incident.id, token, due_at, suffix=":early"))
        return
    metrics.STEP_LATENESS.observe(max(0.0, (now - due_at).total_seconds()))
    await advance(session, incident, due_at=due_at, now=now)


async def run_level_failed(
    *, session: AsyncSession, incident_id: uuid.UUID, level: int, loop: int, now: datetime
) -> None:
    """Every delivery of the current level failed for good: move on now, not at the timeout."""
    incident = await lock_incident(session, incident_id)
    if incident is None or incident.next_due_at is None or incident.level_entered_at is None:
        return
    if (incident.escalation_level, incident.escalation_loop) != (level, loop):
        return
    statuses = set(
        (
            await session.scalars(
                select(col(Notification.status)).where(
                    col(Notification.incident_id) == incident_id,
                    col(Notification.level) == level,
                    col(Notification.loop) == loop,
                )
            )
        ).all()
    )
    if statuses != {"failed"}:
        return
    timeline.record(
        session,
        incident_id=incident.id,
        type="level_failed",
        at=now,
        details={
            "level": level,
            "loop": loop,
            "reason": "every delivery at this level failed permanently",
        },
    )
    await advance(session, incident, due_at=now, now=now)
