"""Re-arm overdue steps and undelivered pages from PostgreSQL (Redis may have lost them)."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.models import Incident, Notification
from app.queue import after_commit, delivery_job, step_job

BATCH = 2000


async def sweep(*, session: AsyncSession, now: datetime, grace_seconds: float) -> int:
    """Enqueue (after commit) every step and page overdue by more than the grace; how many."""
    cutoff = now - timedelta(seconds=grace_seconds)
    # A distinct job id per sweep: a job stuck behind a dead worker's in-progress key still runs.
    suffix = f":sweep{int(now.timestamp())}"
    steps = await session.execute(
        select(Incident.id, Incident.step_token, Incident.next_due_at)
        .where(Incident.next_due_at < cutoff, Incident.status != "resolved")  # type: ignore[operator,arg-type]
        .order_by(Incident.next_due_at)
        .limit(BATCH)  # type: ignore[arg-type]
    )
    count = 0
    for incident_id, token, due_at in steps:
        after_commit(session, step_job(incident_id, token, due_at, suffix=suffix))
        count += 1
    metrics.SWEEPER_REARMS.labels("step").inc(count)
    pages = await session.execute(
        select(Notification.id, Notification.attempts, Notification.due_at)
        .where(Notification.status == "pending", Notification.due_at < cutoff)  # type: ignore[arg-type]
        .order_by(Notification.due_at)
        .limit(BATCH)  # type: ignore[arg-type]
    )
    rearmed_pages = 0
    for notification_id, attempts, due_at in pages:
        after_commit(session, delivery_job(notification_id, attempts, due_at, suffix=suffix))
        rearmed_pages += 1
    metrics.SWEEPER_REARMS.labels("delivery").inc(rearmed_pages)
    return count + rearmed_pages
