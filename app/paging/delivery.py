"""Delivering due outbox rows in batches: lock, re-check, send concurrently, record every outcome.

One wake-up job per 10 ms bucket (`schedule_delivery`) claims every page due by then, a batch
per transaction (`app/paging/outbox.py`). The incidents of a batch stay share-locked until the
providers have answered for every page of it, so a page never goes out after an acknowledgement
commits: the ack's FOR UPDATE waits for the batch, and a batch skips an incident an ack already
holds (its pages are cancelled by the ack, or claimed again shortly). An ack therefore waits at
most one delivery timeout (`delivery_timeout_seconds`) for a batch in flight, since a batch's
pages are all sent at once under one deadline.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.config import Settings
from app.escalation.engine import should_deliver
from app.escalation.snapshot import Condition
from app.notify.base import DeliveryResult, Page, Provider
from app.notify.registry import send_page, shown_address
from app.paging.outcomes import (
    Settled,
    after_attempt,
    backoff_seconds,
    cancelled,
    page_details,
)
from app.paging.pages import PageRenderer
from app.queue import JobSpec, after_commit, due_work_job
from app.queue import fresh as new_id
from app.store import outbox, timeline
from app.vocabulary import Status

__all__ = [
    "BATCH",
    "DELIVERIES_JOB",
    "EARLY_TOLERANCE",
    "LEVEL_FAILED_JOB",
    "Delivered",
    "DeliveryContext",
    "backoff_seconds",
    "deliver_batch",
    "delivery_wakeup",
    "level_failed_job",
    "rearm_deliveries",
    "schedule_delivery",
    "send_claimed",
    "shown_address",
]

log = logging.getLogger(__name__)

# Job names and argument lists are stable: queued jobs outlive deploys.
DELIVERIES_JOB = "deliveries_due"
LEVEL_FAILED_JOB = "level_failed"
EARLY_TOLERANCE = timedelta(milliseconds=20)
# Pages per transaction, all sent at once: bounded so an ack waits at most one delivery timeout.
BATCH = 100
# Pages in flight at once per batch: enough that slow destinations do not hold up the rest,
# few enough that an acknowledgement behind a full batch waits at most ~2 delivery timeouts.
SEND_CONCURRENCY = 32


@dataclass(frozen=True)
class DeliveryContext:
    providers: dict[str, Provider]
    settings: Settings
    link_secret: str
    # Held while one of this process's delivery loops claims a batch. All due at once, the
    # pages come first in the same order for every loop: loops claiming side by side would
    # pick the same ones, all skip them and wait, so about half the claims of a backlog went
    # for nothing. One at a time, each claim skips the pages the one before it locked.
    claiming: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Delivered:
    pages: int  # pages this batch locked and settled
    more: bool  # pages were delivered: claim again at once
    busy: bool = False  # due pages were left (held by another deliverer, or incident locked)


def delivery_wakeup(due_at: datetime, *, fresh: bool = False) -> JobSpec:
    """The deliverer's wake-up for the time bucket holding `due_at` (`fresh`: a new job id)."""
    job = due_work_job(DELIVERIES_JOB, due_at)
    return new_id(job) if fresh else job


def rearm_deliveries(due_times: Sequence[datetime], *, now: datetime) -> list[JobSpec]:
    """The wake-ups pending pages need: one for all overdue ones, one per later bucket."""
    overdue = [due_at for due_at in due_times if due_at <= now]
    later = (delivery_wakeup(due_at) for due_at in due_times if due_at > now)
    jobs = {job.job_id: job for job in later}
    # One wake-up claims every page due by then, so the soonest overdue page's bucket is enough.
    return ([delivery_wakeup(min(overdue))] if overdue else []) + list(jobs.values())


def level_failed_job(incident_id: Any, level: int, loop: int) -> JobSpec:
    """Re-check a level whose deliveries all failed permanently."""
    return JobSpec(
        LEVEL_FAILED_JOB,
        (str(incident_id), level, loop),
        f"level-failed:{incident_id}:{loop}:{level}",
    )


def schedule_delivery(session: AsyncSession, due_at: datetime) -> None:
    """Wake the deliverer at `due_at`, once the session's transaction commits."""
    after_commit(session, delivery_wakeup(due_at))


async def _send_all(pages: list[Page], ctx: DeliveryContext) -> list[DeliveryResult | None]:
    """Every page's result, or None for a page not started before the batch's deadline.

    At most SEND_CONCURRENCY pages are in flight at once. A send once started is never
    abandoned: its incident stays locked until the provider answers or the send times out by
    itself, so a page cannot reach a provider after the lock is released and an ack commits.
    Pages still waiting to start when the delivery timeout has passed are left for the next
    batch, so an acknowledgement waits at most about two delivery timeouts for a batch.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.settings.delivery_timeout_seconds
    results: list[DeliveryResult | None] = [None] * len(pages)
    waiting = iter(enumerate(pages))

    # A few senders taking the pages in order, rather than a task per page queued on a
    # semaphore: a full batch's waiting tasks cost a sixth of the CPU per page of sending
    # alone (`bench/send_path.py`).
    async def sender() -> None:
        for index, page in waiting:
            if loop.time() >= deadline:
                return
            results[index] = await send_page(ctx.providers, page)

    await asyncio.gather(*(sender() for _ in range(min(SEND_CONCURRENCY, len(pages)))))
    return results


async def deliver_batch(
    *,
    session: AsyncSession,
    now: datetime,
    ctx: DeliveryContext,
    limit: int = BATCH,
) -> Delivered:
    """Deliver up to `limit` due pages and record them (caller commits)."""
    cutoff = now + EARLY_TOLERANCE
    async with ctx.claiming:
        claim = await outbox.claim(session, cutoff=cutoff, limit=limit)
    if not claim.pages:
        busy = await outbox.left_behind(session, cutoff=cutoff)
        return Delivered(0, more=False, busy=busy)
    outcomes = await send_claimed(claim, now=now, ctx=ctx)
    await _record(session, outcomes, now)
    if len(outcomes) < len(claim.pages):
        schedule_delivery(session, now)
    # Claim again until a claim comes back empty: that one also tells whether pages were skipped.
    return Delivered(len(claim.pages), more=True)


async def send_claimed(
    claim: outbox.Claim, *, now: datetime, ctx: DeliveryContext
) -> list[tuple[outbox.ClaimedPage, Settled]]:
    """Render and send a claim's pages (those still wanted); each settled page with its outcome.

    A page not started before the batch's deadline has no outcome: it stays pending.
    """
    settings = ctx.settings
    renderer = PageRenderer(
        link_secret=ctx.link_secret,
        public_url=settings.public_url,
        link_ttl_seconds=settings.action_link_ttl_seconds,
        now=now,
    )
    settled: list[Settled | None] = []
    bases: list[dict[str, Any]] = []
    sends: list[tuple[int, Page]] = []
    for index, row in enumerate(claim.pages):
        incident = claim.incidents[row.incident_id]
        base = page_details(
            notification_id=row.id,
            level=row.level,
            loop=row.loop,
            channel=row.channel,
            address=row.address,
            user_id=row.user_id,
        )
        bases.append(base)
        if row.user_id is None and row.target_type != "webhook":
            # Its person was deleted after it was decided: no page goes out that nobody may act on.
            settled.append(cancelled(base, attempts=row.attempts, reason="user deleted"))
        elif should_deliver(
            status=Status(incident.status),
            condition=Condition(row.condition),
            acknowledged_at=incident.acknowledged_at,
            created_at=row.created_at,
        ):
            settled.append(None)
            sends.append((index, renderer.page(row, incident, attempt=row.attempts + 1)))
        else:
            settled.append(
                cancelled(base, attempts=row.attempts, reason=f"incident {incident.status}")
            )
    results = await _send_all([page for _, page in sends], ctx)
    handed = Counter(
        page.channel
        for (_, page), result in zip(sends, results, strict=True)
        if result is not None and page.channel in ctx.providers
    )
    for channel, count in handed.items():
        metrics.DELIVERY_ATTEMPTS.labels(channel).inc(count)
    for (index, _), result in zip(sends, results, strict=True):
        row = claim.pages[index]
        if result is None:
            continue  # not started before the deadline: still pending, for the next batch
        settled[index] = after_attempt(
            bases[index], result, attempts=row.attempts, now=now, settings=settings
        )
    return [(row, s) for row, s in zip(claim.pages, settled, strict=True) if s is not None]


async def _record(
    session: AsyncSession, outcomes: list[tuple[outbox.ClaimedPage, Settled]], now: datetime
) -> None:
    updates, entries = [], []
    tally: Counter[tuple[str, str]] = Counter()
    for row, outcome in outcomes:
        channel = row.channel
        updates.append(
            outbox.RowUpdate(
                row.id,
                outcome.status,
                outcome.attempts,
                due_at=outcome.retry_at,
                sent_at=outcome.sent_at,
                last_error=outcome.last_error,
            )
        )
        entries.append(
            timeline.Entry(row.incident_id, outcome.entry_type, now, details=outcome.details)
        )
        if outcome.metric is not None:
            tally[channel, outcome.metric] += 1
        if outcome.retry_at is not None:
            schedule_delivery(session, outcome.retry_at)
        if outcome.level_failed:
            after_commit(session, level_failed_job(row.incident_id, row.level, row.loop))
        if outcome.last_error is not None:
            log.warning(
                "page not delivered",
                extra={"incident_id": str(row.incident_id), **outcome.details},
            )
    await outbox.settle(session, updates=updates, entries=entries)
    for (channel, outcome_name), count in tally.items():
        metrics.PAGES.labels(channel, outcome_name).inc(count)
