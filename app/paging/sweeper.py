"""Re-arm overdue steps and undelivered pages from PostgreSQL (Redis may have lost them)."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import metrics
from app.events.delivery import rearm as rearm_events
from app.incidents.timers import sweep_timers
from app.models import Incident, Notification
from app.queue import after_commit, delivery_job, step_job
from app.responders.nonces import purge_expired

BATCH = 2000


async def sweep(*, session: AsyncSession, now: datetime, grace_seconds: float) -> int:
    """Enqueue (after commit) every step and page overdue by more than the grace; how many."""
    cutoff = now - timedelta(seconds=grace_seconds)
    # A distinct job id per sweep: a job stuck behind a dead worker's in-progress key still runs.
    suffix = f":sweep{int(now.timestamp())}"
    steps = await session.execute(
        select(col(Incident.id), col(Incident.step_token), col(Incident.next_due_at))
        .where(col(Incident.next_due_at) < cutoff, col(Incident.status) != "resolved")
        .order_by(col(Incident.next_due_at))
        .limit(BATCH)
    )
    count = 0
    for incident_id, token, due_at in steps:
        assert due_at is not None  # the WHERE clause excludes NULL next_due_at
        after_commit(session, step_job(incident_id, token, due_at, suffix=suffix))
        count += 1
    metrics.SWEEPER_REARMS.labels("step").inc(count)
    pages = await session.execute(
        select(col(Notification.id), col(Notification.attempts), col(Notification.due_at))
        .where(col(Notification.status) == "pending", col(Notification.due_at) < cutoff)
        .order_by(col(Notification.due_at))
        .limit(BATCH)
    )
    rearmed_pages = 0
    for notification_id, attempts, due_at in pages:
        after_commit(session, delivery_job(notification_id, attempts, due_at, suffix=suffix))
        rearmed_pages += 1
    metrics.SWEEPER_REARMS.labels("delivery").inc(rearmed_pages)
    timers = await sweep_timers(session=session, cutoff=cutoff, suffix=suffix)
    metrics.SWEEPER_REARMS.labels("timer").inc(timers)
    events = await rearm_events(session=session, cutoff=cutoff, suffix=suffix)
    metrics.SWEEPER_REARMS.labels("event").inc(events)
    await purge_expired(session=session, now=now)
    return count + rearmed_pages + timers + events
