"""A dry run of an escalation policy: who would be paged when if an incident triggered at T.

It walks the chain with the live engine's pure core (`engine.on_due`) and the live target
planning (`plan_levels`, schedules resolved at each level's instant); it writes nothing.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.escalation import engine
from app.escalation.snapshot import PolicySnapshot
from app.paging.delivery import shown_address
from app.paging.targets import LevelPlan, plan_levels
from app.policies.service import frozen_snapshot, read_policy
from app.schedules.oncall import user_names
from app.vocabulary import Status


class PreviewPage(BaseModel):
    """One notification the level would send."""

    target_index: int
    target_type: str
    user_id: uuid.UUID | None
    user_name: str | None
    contact_method_id: uuid.UUID | None
    channel: str
    address: str
    delay_seconds: int
    at: datetime
    # Set when a later level pages the same user first: this rule is cancelled then.
    superseded_at: datetime | None = None


class PreviewStep(BaseModel):
    """One decision of the chain, in order."""

    type: Literal["level", "level_skipped", "repeated"]
    at: datetime
    level: int | None = None
    loop: int
    escalate_at: datetime | None = None
    pages: list[PreviewPage] = []
    on_call: list[dict[str, Any]] = []
    unreachable: list[dict[str, Any]] = []


class PolicyPreview(BaseModel):
    policy_id: uuid.UUID
    policy_name: str
    at: datetime
    urgency: str
    steps: list[PreviewStep]
    exhausted_at: datetime | None


def _pages(plan: LevelPlan, at: datetime, names: dict[uuid.UUID, str]) -> list[PreviewPage]:
    return [
        PreviewPage(
            target_index=page.target_index,
            target_type=page.target_type,
            user_id=page.user_id,
            user_name=names.get(page.user_id) if page.user_id else None,
            contact_method_id=page.contact_method_id,
            channel=page.channel,
            address=shown_address(page.channel, page.address),
            delay_seconds=page.delay_seconds,
            at=at + timedelta(seconds=page.delay_seconds),
        )
        for page in sorted(plan.pages, key=lambda p: (p.delay_seconds, p.target_index))
    ]


def _step(
    decision: engine.Decision,
    policy: PolicySnapshot,
    plans: dict[int, LevelPlan],
    names: dict[uuid.UUID, str],
) -> PreviewStep | None:
    if isinstance(decision, engine.EnterLevel):
        plan = plans[decision.level]
        after = timedelta(seconds=policy.level(decision.level).escalate_after_seconds)
        return PreviewStep(
            type="level",
            at=decision.at,
            level=decision.level,
            loop=decision.loop,
            escalate_at=decision.at + after,
            pages=_pages(plan, decision.at, names),
            on_call=plan.on_call,
            unreachable=plan.unreachable,
        )
    if isinstance(decision, engine.SkipLevel):
        plan = plans[decision.level]
        return PreviewStep(
            type="level_skipped",
            at=decision.at,
            level=decision.level,
            loop=decision.loop,
            unreachable=plan.unreachable,
        )
    if isinstance(decision, engine.Repeat):
        return PreviewStep(type="repeated", at=decision.at, loop=decision.loop)
    return None


def _mark_superseded(steps: Sequence[PreviewStep]) -> None:
    """A user's pending rules stop when a later level pages that user (one chain per user)."""
    entered = [s for s in steps if s.type == "level"]
    for index, step in enumerate(entered):
        for page in step.pages:
            if page.user_id is None:
                continue
            later = next(
                (
                    s.at
                    for s in entered[index + 1 :]
                    if any(p.user_id == page.user_id for p in s.pages)
                ),
                None,
            )
            if later is not None and page.at > later:
                page.superseded_at = later


async def preview_policy(
    *, session: AsyncSession, policy_id: uuid.UUID, at: datetime, urgency: str
) -> PolicyPreview:
    """The chain an incident triggered at `at` would climb if nobody answered."""
    # The snapshot a live incident of this urgency would freeze (low urgency: level 1, once).
    policy = frozen_snapshot(
        await read_policy(session=session, policy_id=policy_id), urgency=urgency
    )
    position = engine.start(at)
    steps: list[PreviewStep] = []
    exhausted_at = None
    # Each on_due call enters at least one level or ends the chain: this bounds every loop.
    for _ in range(len(policy.levels) * (policy.repeat + 1) + 1):
        if position.due_at is None:
            break
        plans = await plan_levels(session, policy, position.due_at, urgency=urgency)
        unreachable = frozenset(n for n, plan in plans.items() if not plan.pages)
        result = engine.on_due(policy, position, Status.TRIGGERED, unreachable)
        user_ids = [p.user_id for plan in plans.values() for p in plan.pages if p.user_id]
        names = await user_names(session, user_ids)
        for decision in result.decisions:
            if isinstance(decision, engine.Exhaust):
                exhausted_at = decision.at
            step = _step(decision, policy, plans, names)
            if step is not None:
                steps.append(step)
        position = result.position
    _mark_superseded(steps)
    return PolicyPreview(
        policy_id=policy_id,
        policy_name=policy.name,
        at=at,
        urgency=urgency,
        steps=steps,
        exhausted_at=exhausted_at,
    )
