"""Re-arm overdue steps and undelivered pages from PostgreSQL (Redis may have lost them)."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from arq.constants import in_progress_key_prefix, job_key_prefix
from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.events.delivery import rearm as rearm_events
from app.models import utcnow
from app.paging.delivery import DELIVERIES_JOB, rearm_deliveries
from app.paging.wake import rearm_steps
from app.queue import JobSpec
from app.store import outbox
from app.store.incidents import pending_steps
from app.store.timers import sweep_timers

BATCH = 2000
# After Redis lost everything, future timers are re-armed too, up to this many per kind.
FULL_REARM_LIMIT = 100_000


async def overdue_jobs(
    *, session: AsyncSession, before: datetime | None, limit: int = BATCH
) -> list[JobSpec]:
    """Every step and page due before `before` (all pending ones when None), soonest first."""
    # Steps and pages are claimed in batches by due time: one wake-up covers every overdue one.
    first = limit if before is None else 1
    steps = await pending_steps(session, before=before, limit=first)
    jobs = rearm_steps(steps, now=before or utcnow())
    pages = await outbox.pending_pages(session, before=before, limit=first)
    jobs.extend(rearm_deliveries(pages, now=before or utcnow()))
    return jobs


def armed_mark(queue_name: str) -> str:
    """A key every sweep keeps in Redis: when it is gone, Redis was flushed or replaced."""
    return f"{queue_name}:armed"


async def missing_jobs(
    redis: Any, jobs: Sequence[JobSpec], *, now: datetime, stuck_after: dict[str, float]
) -> list[JobSpec]:
    """The overdue jobs Redis no longer holds, or that a dead worker holds in progress.

    A job still queued behind a backlog is left alone, so an overloaded worker is not handed
    duplicates. One held in progress for longer than its kind can take (its worker died) is
    re-armed under a fresh id, since arq will not run the same id again until that key expires.
    """
    if not jobs:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.exists(job_key_prefix + job.job_id)
            pipe.exists(in_progress_key_prefix + job.job_id)
        flags = await pipe.execute()
    rearm = []
    for index, job in enumerate(jobs):
        queued, in_progress = flags[2 * index], flags[2 * index + 1]
        due = job.defer_until or now
        if not queued:
            rearm.append(job)
        elif in_progress and (now - due).total_seconds() > stuck_after[job.function]:
            suffix = f":sweep{int(now.timestamp())}"
            rearm.append(JobSpec(job.function, job.args, job.job_id + suffix, job.defer_until))
    for job in rearm:
        kind = "delivery" if job.function == DELIVERIES_JOB else "step"
        metrics.SWEEPER_REARMS.labels(kind).inc()
    return rearm


async def sweep_timers_and_events(
    *, session: AsyncSession, now: datetime, grace_seconds: float
) -> int:
    """Re-arm (after commit) overdue ack-timeout/auto-resolve timers and outbound events.

    Both are few and idempotent, so each sweep re-arms them under a fresh id.
    """
    cutoff = now - timedelta(seconds=grace_seconds)
    suffix = f":sweep{int(now.timestamp())}"
    timers = await sweep_timers(session=session, cutoff=cutoff, suffix=suffix)
    metrics.SWEEPER_REARMS.labels("timer").inc(timers)
    events = await rearm_events(session=session, cutoff=cutoff, suffix=suffix)
    metrics.SWEEPER_REARMS.labels("event").inc(events)
    return timers + events
