"""The inbound event inbox: accept an alert event with one durable INSERT, apply it later.

The API answers an event once its row is committed (nothing is held in memory), and wakes the
worker that applies queued events in the order they were accepted (`app/integrations/drain.py`).
One statement finds the integration key and writes the event, over a plain asyncpg pool: this
is the hot path of a monitoring storm, so it avoids ORM sessions and extra round trips.
"""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import FairPool
from app.errors import database_unavailable, is_connection_error
from app.integrations.ingest import Event
from app.models import InboundEvent
from app.queue import DUE_BUCKET_MS, Enqueue, JobSpec, due_work_job
from app.queue import fresh as new_id

INBOX_JOB = "inbound_events_due"
# How long an accepted event may wait for a wake-up shared with the events after it: longer
# means fewer, larger batches in a storm (a third of the worker CPU per dedup hit at 150 ms
# compared with 50 ms), at a cost of well under a second before the incident opens.
WAKE_DELAY = timedelta(milliseconds=150)

_INSERT = """
INSERT INTO inbound_events (service_id, action, dedup_key, trigger, actor, received_at)
SELECT k.service_id, $2, $3, $4::jsonb,
       jsonb_build_object('type', 'integration', 'id', k.id::text, 'name', k.name), $5
FROM integration_keys AS k
WHERE k.key_hash = $1
RETURNING id
"""


def _trigger_json(event: Event) -> str:
    if event.trigger is None:
        return "{}"
    return event.trigger.model_dump_json(exclude={"service_id"})


async def record(pool: FairPool, *, key_hash: str, event: Event, received_at: datetime) -> bool:
    """Queue the event durably; False when no integration key has that hash."""
    try:
        row_id = await pool.fetchval(
            _INSERT, key_hash, event.action, event.dedup_key, _trigger_json(event), received_at
        )
    except Exception as exc:
        if is_connection_error(exc):
            raise database_unavailable() from exc
        raise
    return row_id is not None


class Waker:
    """Wakes the inbox worker at once for an event after a quiet spell, and otherwise at most
    once per `WAKE_DELAY`, per API process.

    A wake-up runs no earlier than its instant, so it sees every event committed before
    then: an event committed while a wake-up is still ahead needs no wake-up of its own. In a
    storm the events share one wake-up per `WAKE_DELAY` (larger batches); a lone alert is not
    held back for them.
    """

    def __init__(self, enqueue: Enqueue) -> None:
        self._enqueue = enqueue
        self._pending_until: datetime | None = None

    async def wake(self, now: datetime) -> None:
        pending = self._pending_until
        if pending is not None and now < pending:
            return
        if pending is not None and now - pending < WAKE_DELAY:
            at = pending + WAKE_DELAY  # events keep coming: share the next wake-up
        else:
            at = now  # after a quiet spell: at once
        job = inbox_wakeup(at)
        self._pending_until = job.defer_until
        await self._enqueue([job])


def inbox_wakeup(at: datetime, *, fresh: bool = False) -> JobSpec:
    """The inbox job of the time bucket after the one holding `at` (`fresh`: a new job id)."""
    job = due_work_job(INBOX_JOB, at + timedelta(milliseconds=DUE_BUCKET_MS))
    return new_id(job) if fresh else job


async def oldest_queued(session: AsyncSession) -> datetime | None:
    """When the oldest event still in the inbox was accepted, or None when it is empty."""
    query = select(col(InboundEvent.received_at)).order_by(col(InboundEvent.id)).limit(1)
    return (await session.scalars(query)).first()
