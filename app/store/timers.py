"""Lifecycle timers stored on the incident row: ack timeout (or snooze end) and auto-resolve.

The due instant lives in PostgreSQL; an arq job fires at it (enqueued after commit) and the
sweeper re-arms overdue ones, so a lost Redis or a restarted worker loses no timer.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Incident
from app.queue import JobSpec, after_commit
from app.vocabulary import Status

# Job names and argument lists are stable: queued jobs outlive deploys.
ACK_TIMEOUT_JOB = "ack_timeout"
AUTO_RESOLVE_JOB = "auto_resolve"
BATCH = 2000


def timer_job(function: str, incident_id: Any, due_at: datetime, *, suffix: str = "") -> JobSpec:
    """A lifecycle timer (ack timeout, auto-resolve) of an incident, fenced by its instant."""
    name = function.replace("_", "-")
    return JobSpec(
        function,
        (str(incident_id), due_at.isoformat()),
        f"{name}:{incident_id}:{due_at.timestamp():.6f}{suffix}",
        due_at,
    )


def set_ack_timeout(session: AsyncSession, incident: Incident, at: datetime | None) -> None:
    """When the acknowledgement lapses (None: never); the job is armed after commit."""
    incident.ack_timeout_at = at
    arm_ack_timeout(session, incident.id, at)


def arm_ack_timeout(session: AsyncSession, incident_id: uuid.UUID, at: datetime | None) -> None:
    """Arm the ack-timeout job of the instant just written (None: none), after commit."""
    if at is not None:
        after_commit(session, timer_job(ACK_TIMEOUT_JOB, incident_id, at))


def on_triggered(
    session: AsyncSession, incident_id: uuid.UUID, auto_resolve_at: datetime | None
) -> None:
    """Arm auto-resolve, which counts from the trigger (later alerts do not push it back)."""
    if auto_resolve_at is not None:
        after_commit(session, timer_job(AUTO_RESOLVE_JOB, incident_id, auto_resolve_at))


def on_resolved(incident: Incident) -> None:
    """A resolved incident has no timer left."""
    incident.ack_timeout_at = incident.snoozed_until = incident.auto_resolve_at = None


async def sweep_timers(*, session: AsyncSession, cutoff: datetime, suffix: str) -> int:
    """Enqueue (after commit) every timer overdue before `cutoff`; how many."""
    acks = await session.execute(
        select(col(Incident.id), col(Incident.ack_timeout_at))
        .where(col(Incident.ack_timeout_at) < cutoff, col(Incident.status) == Status.ACKNOWLEDGED)
        .order_by(col(Incident.ack_timeout_at))
        .limit(BATCH)
    )
    resolves = await session.execute(
        select(col(Incident.id), col(Incident.auto_resolve_at))
        .where(col(Incident.auto_resolve_at) < cutoff, col(Incident.status) != Status.RESOLVED)
        .order_by(col(Incident.auto_resolve_at))
        .limit(BATCH)
    )
    count = 0
    for function, rows in ((ACK_TIMEOUT_JOB, acks), (AUTO_RESOLVE_JOB, resolves)):
        for incident_id, at in rows:
            assert at is not None  # the WHERE clause excludes NULL instants
            after_commit(session, timer_job(function, incident_id, at, suffix=suffix))
            count += 1
    return count
