"""The escalation step: ask the core what each locked incident does next, persist it in bulk.

Steps are applied to a batch of locked incidents at once (app/paging/due.py claims them), or to
one incident by a person's action (`advance`). Either way every row kind is written in one
statement: pages (the outbox), timeline entries, superseded rule chains.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.escalation import engine
from app.escalation.snapshot import PolicySnapshot
from app.events.schemas import EventType
from app.events.service import emit
from app.models import Incident, utcnow
from app.paging.delivery import schedule_delivery
from app.paging.targets import LevelPlan, plan_levels
from app.paging.wake import step_wakeup
from app.queue import after_commit
from app.store import outbox, timeline
from app.store.chains import NewChain, supersede_older_chains
from app.store.documents import document
from app.store.incidents import Moved, State, lock_incident, place, state_of
from app.store.timeline import SYSTEM
from app.vocabulary import Status

log = logging.getLogger(__name__)

# A step claimed earlier than this before its due time (clock skew between hosts) waits.
EARLY_TOLERANCE = timedelta(milliseconds=20)


@dataclass(frozen=True, slots=True)
class Outcome(Moved):
    """What a step changed on its incident."""

    # A level was entered from another one: the `incident.escalated` event goes out.
    escalated: bool


@dataclass
class Writes:
    """The rows a batch of steps writes, each kind in one statement."""

    # When the pages were decided: after the transaction began (chains.py relies on it).
    created_at: datetime
    pages: list[outbox.NewPage] = field(default_factory=list)
    entries: list[timeline.Entry] = field(default_factory=list)
    chains: list[NewChain] = field(default_factory=list)


def decide(
    writes: Writes,
    state: State,
    plans: dict[int, LevelPlan],
    unreachable: frozenset[int],
    *,
    due_at: datetime,
    now: datetime,
    jump_to: int | None = None,
    actor: dict[str, Any] | None = None,
) -> Outcome:
    """Ask the core about the step due at `due_at` (fired at `now`); queue the rows it implies."""
    policy = state.policy
    position = engine.Position(state.level, state.loop, state.entered_at, due_at)
    if jump_to is None:
        result = engine.on_due(policy, position, Status(state.status), unreachable, now)
    else:
        result = engine.jump(policy, position, jump_to, due_at, unreachable)
    max_level, exhausted, escalated = state.max_level, state.exhausted, False
    lateness_ms = round((now - due_at).total_seconds() * 1000)
    for decision in result.decisions:
        if isinstance(decision, engine.EnterLevel):
            plan = plans[decision.level]
            _pages(writes, state, decision, plan, policy)
            max_level = max(max_level, decision.level)
            escalated = escalated or decision.from_level is not None
            details = {
                "from_level": decision.from_level,
                "level": decision.level,
                "loop": decision.loop,
                "pages": len(plan.pages),
                "lateness_ms": lateness_ms,
                "unreachable": plan.unreachable,
                "on_call": plan.on_call,
            }
            writes.entries.append(
                timeline.Entry(state.id, "escalated", decision.at, actor or SYSTEM, details)
            )
            users = frozenset(page.user_id for page in plan.pages if page.user_id is not None)
            writes.chains.append(
                NewChain(state.id, decision.level, decision.loop, users, decision.at)
            )
        elif isinstance(decision, engine.SkipLevel):
            details = {
                "level": decision.level,
                "loop": decision.loop,
                "reasons": plans[decision.level].unreachable,
            }
            writes.entries.append(
                timeline.Entry(state.id, "level_skipped", decision.at, details=details)
            )
        elif isinstance(decision, engine.Repeat):
            writes.entries.append(
                timeline.Entry(state.id, "repeated", decision.at, details={"loop": decision.loop})
            )
        else:
            exhausted = True
            details = {"level": result.position.level, "loop": result.position.loop}
            writes.entries.append(
                timeline.Entry(state.id, "exhausted", decision.at, details=details)
            )
    return Outcome(state, result.position, max_level, exhausted, escalated)


def _pages(
    writes: Writes,
    state: State,
    decision: engine.EnterLevel,
    plan: LevelPlan,
    policy: PolicySnapshot,
) -> None:
    condition = policy.level(decision.level).condition.value
    # The key is stable across retries of this step, so a retried step never pages twice.
    prefix = f"{state.id}:{state.epoch}:{decision.loop}:{decision.level}:"
    writes.pages.extend(
        outbox.NewPage(
            id=uuid.uuid4(),
            incident_id=state.id,
            level=decision.level,
            loop=decision.loop,
            condition=condition,
            target_type=page.target_type,
            user_id=page.user_id,
            contact_method_id=page.contact_method_id,
            channel=page.channel,
            address=page.address,
            idempotency_key=f"{prefix}{page.target_index}:{page.rule_key}",
            due_at=decision.at + timedelta(seconds=page.delay_seconds),
        )
        for page in plan.pages
    )


async def persist(session: AsyncSession, writes: Writes) -> None:
    """Write the pages, cancel the chains they supersede, then every timeline entry."""
    for due_at in await outbox.insert_pages(session, writes.pages, created_at=writes.created_at):
        schedule_delivery(session, due_at)
    cancelled = await supersede_older_chains(session, writes.chains)
    await timeline.append(session, writes.entries + cancelled)


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
    # The caller's changes reach the database before the rows below, written outside the ORM.
    await session.flush()
    state = state_of(incident)
    plans = await plan_levels(session, state.policy, due_at, urgency=state.urgency)
    unreachable = frozenset(n for n, plan in plans.items() if not plan.pages)
    writes = Writes(created_at=utcnow())
    outcome = decide(
        writes,
        state,
        plans,
        unreachable,
        due_at=due_at,
        now=now,
        jump_to=jump_to,
        actor=actor,
    )
    await persist(session, writes)
    new = outcome.position
    log.info(
        "escalation step",
        extra={
            "incident_id": str(incident.id),
            "level": new.level,
            "loop": new.loop,
            "lateness_ms": round((now - due_at).total_seconds() * 1000),
        },
    )
    place(incident, new, now=now)
    incident.max_level_reached, incident.exhausted = outcome.max_level, outcome.exhausted
    if new.due_at is not None:
        after_commit(session, step_wakeup(new.due_at))
    if outcome.escalated:
        await emit(session, document(incident), EventType.ESCALATED, at=now, actor=actor)
    await session.flush()


async def run_level_failed(
    *, session: AsyncSession, incident_id: uuid.UUID, level: int, loop: int, now: datetime
) -> None:
    """Every delivery of the current level failed for good: move on now, not at the timeout."""
    incident = await lock_incident(session, incident_id)
    if incident is None or incident.next_due_at is None or incident.level_entered_at is None:
        return
    if (incident.escalation_level, incident.escalation_loop) != (level, loop):
        return
    if await outbox.statuses_at(session, incident_id, level=level, loop=loop) != {"failed"}:
        return
    await timeline.record(
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
