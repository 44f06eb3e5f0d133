"""The batch step job: claim the incidents whose step is due, apply every step, commit once.

Claims skip rows another transaction holds (another batch, an acknowledgement), so workers
side by side never wait on each other; a claim that saw such rows looks again shortly.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.events.schemas import EventType
from app.events.service import emit_many, listening, subscriptions
from app.models import utcnow
from app.paging.step import EARLY_TOLERANCE, Writes, decide, persist
from app.paging.targets import plan_many
from app.paging.wake import wakeups
from app.queue import after_commit
from app.store.documents import document
from app.store.incidents import (
    State,
    claim_due,
    next_due,
    read_incidents,
    write_positions,
)

log = logging.getLogger(__name__)

# Incidents per claim: one transaction (and a handful of statements) per this many steps.
BATCH = 200
# Due rows another transaction held at the claim are looked at again after this long.
RECHECK_AFTER = timedelta(milliseconds=100)
# A job claims at most this often: steps come due every few ms under load, and a claim (one
# transaction of ~10 statements) costs the same for 1 step as for 50.
CLAIM_GAP = timedelta(milliseconds=50)


async def apply_steps(session: AsyncSession, claimed: Sequence[State], *, now: datetime) -> None:
    """Fire the due step of every claimed (locked) incident at `now`.

    Each step is entered at its own due time, so lateness never accumulates. Targets are
    resolved once per (policy snapshot, urgency) as of `now`, the instant the batch reaches them.
    """
    wanted = {(s.snapshot_text, s.urgency): (s.policy, s.urgency) for s in claimed}
    plans = await plan_many(session, wanted, now)
    unreachable = {
        key: frozenset(n for n, plan in levels.items() if not plan.pages)
        for key, levels in plans.items()
    }
    # After the claim, so pages written here postdate this transaction's start (chains.py).
    writes, outcomes = Writes(created_at=utcnow()), []
    for state in claimed:
        assert state.due_at is not None
        key = (state.snapshot_text, state.urgency)
        metrics.STEP_LATENESS.observe(max(0.0, (now - state.due_at).total_seconds()))
        outcomes.append(
            decide(
                writes,
                state,
                plans[key],
                unreachable[key],
                due_at=state.due_at,
                now=now,
            )
        )
    await persist(session, writes)
    await write_positions(session, outcomes, now=now)
    for job in wakeups(o.position.due_at for o in outcomes if o.position.due_at is not None):
        after_commit(session, job)
    await _emit_escalated(session, [o.state.id for o in outcomes if o.escalated], now)
    log.info(
        "escalation steps",
        extra={
            "steps": len(outcomes),
            "pages": len(writes.pages),
            "max_lateness_ms": round(
                max((now - s.due_at).total_seconds() for s in claimed if s.due_at) * 1000
            ),
        },
    )


async def _emit_escalated(session: AsyncSession, ids: list[uuid.UUID], now: datetime) -> None:
    if not ids:
        return
    subs = listening(await subscriptions(session), EventType.ESCALATED)
    if not subs:
        return
    # The event carries the incident as it is after the step.
    documents = [document(incident) for incident in await read_incidents(session, ids)]
    await emit_many(session, documents, EventType.ESCALATED, at=now, subs=subs)


@dataclass(frozen=True)
class Batch:
    """What one claim left."""

    # The claim was full: more steps may be due already.
    full: bool
    # The earliest step still pending (None: none is).
    next_due: datetime | None


async def run_due_steps(*, session: AsyncSession, now: datetime, limit: int = BATCH) -> Batch:
    """Claim up to `limit` due incidents and fire their steps."""
    claimed = await claim_due(session, cutoff=now + EARLY_TOLERANCE, limit=limit)
    if claimed:
        await apply_steps(session, claimed, now=now)
    return Batch(len(claimed) == limit, await next_due(session))


def next_claim(batch: Batch, *, now: datetime, until: datetime) -> datetime | None:
    """When a job that claims until `until` claims again (None: it is done).

    At once after a full batch; when the window's next step comes due (but not sooner than
    CLAIM_GAP after the last claim, so steps are claimed in batches); shortly if due steps
    were held by another transaction (an acknowledgement, another batch) — possibly past
    `until`, and then the job leaves a wake-up for it. Later steps have wake-ups of their own.
    """
    if batch.full:
        return now
    if batch.next_due is None:
        return None
    if batch.next_due <= now + EARLY_TOLERANCE:
        return now + RECHECK_AFTER
    return max(batch.next_due, now + CLAIM_GAP) if batch.next_due < until else None
