"""Who a level pages, and how: targets resolved to pages as of the instant the level is reached."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.escalation.snapshot import PolicySnapshot, TargetSnapshot
from app.models import ContactMethod, NotificationRule, User
from app.schedules.oncall import OnCall, resolve_on_call


@dataclass(frozen=True)
class PlannedPage:
    """One notification to write to the outbox for a target."""

    target_index: int
    target_type: str
    user_id: uuid.UUID | None
    contact_method_id: uuid.UUID | None
    channel: str
    address: str
    delay_seconds: int
    rule_key: str


@dataclass
class LevelPlan:
    pages: list[PlannedPage] = field(default_factory=list)
    unreachable: list[dict[str, Any]] = field(default_factory=list)
    # Who each schedule target resolved to (with the layer or override that put them there).
    on_call: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Reach:
    user: User
    methods: dict[uuid.UUID, ContactMethod] = field(default_factory=dict)
    rules: list[NotificationRule] = field(default_factory=list)


async def _users(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, _Reach]:
    if not user_ids:
        return {}
    reach: dict[uuid.UUID, _Reach] = {}
    users = await session.scalars(select(User).where(col(User.id).in_(user_ids)))
    for user in users:
        reach[user.id] = _Reach(user)
    methods = await session.scalars(
        select(ContactMethod).where(col(ContactMethod.user_id).in_(user_ids))
    )
    for method in methods:
        reach[method.user_id].methods[method.id] = method
    rules = await session.scalars(
        select(NotificationRule)
        .where(col(NotificationRule.user_id).in_(user_ids))
        .order_by(col(NotificationRule.delay_seconds))
    )
    for rule in rules:
        reach[rule.user_id].rules.append(rule)
    return reach


def _user_pages(
    index: int, target_type: str, reach: _Reach, urgency: str
) -> tuple[list[PlannedPage], str | None]:
    """The user's rules for this urgency; with no rules at all, every contact method at once."""
    if reach.rules:
        rules = [
            (r.contact_method_id, r.delay_seconds, str(r.id))
            for r in reach.rules
            if r.urgency in (None, urgency)
        ]
        if not rules:
            return [], f"user has no notification rule for {urgency}-urgency incidents"
    else:
        rules = [(m, 0, str(m)) for m in reach.methods]
    pages = []
    for method_id, delay, key in rules:
        method = reach.methods.get(method_id)
        if method is None:
            continue
        pages.append(
            PlannedPage(
                index,
                target_type,
                reach.user.id,
                method.id,
                method.type,
                method.address,
                delay,
                key,
            )
        )
    return pages, None if pages else "user has no contact method"


@dataclass
class _Planner:
    users: dict[uuid.UUID, _Reach]
    on_call: dict[uuid.UUID, OnCall | None]
    urgency: str

    def target(
        self, plan: LevelPlan, index: int, target: TargetSnapshot, paged: set[uuid.UUID]
    ) -> dict[str, Any] | None:
        """Add the target's pages to the plan; or say why nobody can be reached through it."""
        if target.type == "webhook" and target.url:
            plan.pages.append(
                PlannedPage(index, "webhook", None, None, "webhook", target.url, 0, "url")
            )
            return None
        unreachable: dict[str, Any] = {"target": target.to_json()}
        if target.type == "user" and target.id:
            user_id = uuid.UUID(target.id)
        elif target.type == "schedule" and target.id:
            schedule_id = uuid.UUID(target.id)
            if schedule_id not in self.on_call:
                return {**unreachable, "reason": "schedule no longer exists"}
            current = self.on_call[schedule_id]
            if current is None:
                return {**unreachable, "reason": "nobody on call"}
            plan.on_call.append({"target_index": index, **current.to_json()})
            unreachable["on_call"] = current.to_json()
            user_id = current.user_id
        else:
            return {**unreachable, "reason": f"{target.type} targets are not supported"}
        if user_id in paged:
            return None  # one rule chain per user per level, however many targets name them
        reach = self.users.get(user_id)
        if reach is None:
            return {**unreachable, "reason": "user no longer exists"}
        pages, reason = _user_pages(index, target.type, reach, self.urgency)
        plan.pages.extend(pages)
        if pages:
            paged.add(user_id)
            return None
        return {**unreachable, "reason": reason}


async def plan_levels(
    session: AsyncSession, policy: PolicySnapshot, at: datetime, *, urgency: str
) -> dict[int, LevelPlan]:
    """For every level: the pages to send if it is entered at `at`, and who cannot be reached.

    Schedule targets resolve to whoever is on call at `at`; rules apply by the incident urgency.
    """
    targets = [t for lvl in policy.levels for t in lvl.targets if t.id]
    schedule_ids = {uuid.UUID(t.id) for t in targets if t.type == "schedule" and t.id}
    on_call = await resolve_on_call(session, schedule_ids, at)
    user_ids = {uuid.UUID(t.id) for t in targets if t.type == "user" and t.id}
    user_ids |= {current.user_id for current in on_call.values() if current is not None}
    planner = _Planner(await _users(session, user_ids), on_call, urgency)
    plans: dict[int, LevelPlan] = defaultdict(LevelPlan)
    for number, level in enumerate(policy.levels, start=1):
        plan = plans[number]
        paged: set[uuid.UUID] = set()
        for index, target in enumerate(level.targets):
            unreachable = planner.target(plan, index, target, paged)
            if unreachable is not None:
                plan.unreachable.append(unreachable)
    return plans
