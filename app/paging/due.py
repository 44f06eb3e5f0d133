"""The batch step job: claim the incidents whose step is due, apply every step, commit once.

Claims skip rows another transaction holds (another batch, an acknowledgement), so workers
side by side never wait on each other; a claim that saw such rows looks again shortly.
"""

import functools
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import metrics
from app.db import driver_connection
from app.escalation.snapshot import PolicySnapshot
from app.events.schemas import EventType
from app.events.service import emit_many, listening, subscriptions
from app.models import Incident, utcnow
from app.paging.step import EARLY_TOLERANCE, State, Writes, decide, persist
from app.paging.targets import plan_many
from app.paging.wake import step_wakeup, wakeups
from app.queue import after_commit
from app.store.documents import document
from app.store.incidents import fenced
from app.vocabulary import Status

log = logging.getLogger(__name__)

# Incidents per claim: one transaction (and a handful of statements) per this many steps.
BATCH = 200
# Due rows another transaction held at the claim are looked at again after this long.
RECHECK_AFTER = timedelta(milliseconds=100)
# A job claims at most this often: steps come due every few ms under load, and a claim (one
# transaction of ~10 statements) costs the same for 1 step as for 50.
CLAIM_GAP = timedelta(milliseconds=50)

_STATE = """
SELECT id, status, urgency, policy_snapshot::text, escalation_level, escalation_loop,
  level_entered_at, next_due_at, step_token, escalation_epoch, max_level_reached, exhausted
FROM incidents
"""
# Oldest due first; rows another transaction holds are skipped, never waited for.
_CLAIM = (
    _STATE
    + """WHERE next_due_at <= $1 AND status <> 'resolved'
ORDER BY next_due_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
)
_LOCK_ONE = _STATE + "WHERE id = $1 FOR UPDATE"
# The earliest pending step: due already if another transaction holds it locked.
_NEXT = (
    "SELECT min(next_due_at) FROM incidents WHERE next_due_at IS NOT NULL AND status <> 'resolved'"
)
_UPDATE = """
UPDATE incidents i SET escalation_level = u.level, escalation_loop = u.loop,
  level_entered_at = u.entered_at, next_due_at = u.due_at, step_token = u.token,
  max_level_reached = u.max_level, exhausted = u.exhausted, updated_at = $9
FROM unnest($1::uuid[], $2::int[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::int[],
  $7::int[], $8::bool[]) AS u(id, level, loop, entered_at, due_at, token, max_level, exhausted)
WHERE i.id = u.id
"""


@functools.lru_cache(maxsize=512)
def _policy(snapshot: str) -> PolicySnapshot:
    # Incidents of one policy version share the same snapshot text: parse it once.
    return PolicySnapshot.from_json(json.loads(snapshot))


def _state(row: Any) -> tuple[State, str]:
    v: tuple[Any, ...] = tuple(row)
    policy = _policy(v[3])
    return State(v[0], v[1], v[2], policy, v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]), v[3]


async def apply_steps(
    session: AsyncSession, claimed: Sequence[tuple[State, str]], *, now: datetime
) -> list[tuple[uuid.UUID, int]]:
    """Fire the due step of every claimed (locked) incident at `now`; the (id, token) applied.

    Each step is entered at its own due time, so lateness never accumulates. Targets are
    resolved once per (policy snapshot, urgency) as of `now`, the instant the batch reaches them.
    """
    wanted = {(text, state.urgency): (state.policy, state.urgency) for state, text in claimed}
    plans = await plan_many(session, wanted, now)
    unreachable = {
        key: frozenset(n for n, plan in levels.items() if not plan.pages)
        for key, levels in plans.items()
    }
    # After the claim, so pages written here postdate this transaction's start (chains.py).
    writes, outcomes = Writes(created_at=utcnow()), []
    for state, text in claimed:
        assert state.due_at is not None
        key = (text, state.urgency)
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
    await (await driver_connection(session)).execute(
        _UPDATE,
        [o.state.id for o in outcomes],
        [o.position.level for o in outcomes],
        [o.position.loop for o in outcomes],
        [o.position.entered_at for o in outcomes],
        [o.position.due_at for o in outcomes],
        [fenced(o.state.token) for o in outcomes],
        [o.max_level for o in outcomes],
        [o.exhausted for o in outcomes],
        now,
    )
    for job in wakeups(o.position.due_at for o in outcomes if o.position.due_at is not None):
        after_commit(session, job)
    await _emit_escalated(session, [o.state.id for o in outcomes if o.escalated], now)
    log.info(
        "escalation steps",
        extra={
            "steps": len(outcomes),
            "pages": len(writes.pages),
            "max_lateness_ms": round(
                max((now - s.due_at).total_seconds() for s, _ in claimed if s.due_at) * 1000
            ),
        },
    )
    return [(o.state.id, o.state.token) for o in outcomes]


async def _emit_escalated(session: AsyncSession, ids: list[uuid.UUID], now: datetime) -> None:
    if not ids:
        return
    subs = listening(await subscriptions(session), EventType.ESCALATED)
    if not subs:
        return
    # The event carries the incident as it is after the step.
    query = select(Incident).where(col(Incident.id).in_(ids)).order_by(col(Incident.id))
    incidents = (await session.scalars(query)).all()
    documents = [document(incident) for incident in incidents]
    await emit_many(session, documents, EventType.ESCALATED, at=now, subs=subs)


@dataclass(frozen=True)
class Batch:
    """What one claim did, and what is left."""

    applied: list[tuple[uuid.UUID, int]]
    # The claim was full: more steps may be due already.
    full: bool
    # The earliest step still pending (None: none is).
    next_due: datetime | None


async def run_due_steps(*, session: AsyncSession, now: datetime, limit: int = BATCH) -> Batch:
    """Claim up to `limit` due incidents and fire their steps."""
    conn = await driver_connection(session)
    rows = await conn.fetch(_CLAIM, now + EARLY_TOLERANCE, limit)
    applied = await apply_steps(session, [_state(r) for r in rows], now=now) if rows else []
    next_due: datetime | None = await conn.fetchval(_NEXT)
    return Batch(applied, len(rows) == limit, next_due)


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


async def run_step(
    *, session: AsyncSession, incident_id: uuid.UUID, token: int, now: datetime
) -> None:
    """The per-incident step job: fenced by `token`, so a stale or repeated job does nothing."""
    row = await (await driver_connection(session)).fetchrow(_LOCK_ONE, incident_id)
    if row is None:
        return
    state, text = _state(row)
    if state.token != token or state.due_at is None or state.status == Status.RESOLVED:
        return
    if state.due_at - now > EARLY_TOLERANCE:
        after_commit(session, step_wakeup(state.due_at))
        return
    await apply_steps(session, [(state, text)], now=now)
