"""The sweeper, run by cron: re-arm from PostgreSQL the work Redis lost or a dead worker holds.

It looks across every kind of job (steps, pages, timers, events, inbound alerts), so it is
assembled here with the worker rather than in one domain.
"""

from datetime import timedelta

from app.config import Settings
from app.db import transaction
from app.integrations import receipts
from app.integrations.inbox import inbox_wakeup, oldest_queued
from app.jobs import Ctx
from app.models import utcnow
from app.paging.delivery import DELIVERIES_JOB, LEVEL_FAILED_JOB
from app.paging.sweeper import (
    BATCH,
    FULL_REARM_LIMIT,
    armed_mark,
    missing_jobs,
    overdue_jobs,
    sweep_timers_and_events,
)
from app.paging.wake import STEPS_DUE_JOB
from app.responders.nonces import purge_expired


async def sweeper(ctx: Ctx) -> None:
    """Re-arm overdue work from PostgreSQL that Redis lost or a dead worker holds."""
    settings: Settings = ctx["settings"]
    now = utcnow()
    redis, mark = ctx["redis"], armed_mark(settings.queue_name)
    # A Redis that lost its data lost future timers too: re-arm everything, not just the overdue.
    reset = not await redis.exists(mark)
    async with transaction(ctx["sessions"], ctx["enqueue"]) as session:
        overdue = await overdue_jobs(
            session=session,
            before=None if reset else now - timedelta(seconds=settings.sweeper_grace_seconds),
            limit=FULL_REARM_LIMIT if reset else BATCH,
        )
        await sweep_timers_and_events(
            session=session, now=now, grace_seconds=settings.sweeper_grace_seconds
        )
        await purge_expired(session=session, now=now)
        retention = timedelta(days=settings.inbound_receipt_retention_days)
        await receipts.prune(session, before=now - retention)
        queued_since = await oldest_queued(session)
    grace = settings.sweeper_grace_seconds
    stuck_after = {
        STEPS_DUE_JOB: grace,
        LEVEL_FAILED_JOB: grace,
        DELIVERIES_JOB: grace + settings.delivery_timeout_seconds,
    }
    await ctx["enqueue"](await missing_jobs(redis, overdue, now=now, stuck_after=stuck_after))
    if queued_since is not None and (now - queued_since).total_seconds() > grace:
        # Inbound events wait longer than they should: their wake-up was lost with Redis.
        await ctx["enqueue"]([inbox_wakeup(now, fresh=True)])
    if reset:
        await redis.set(mark, now.isoformat())
