"""Who a level pages, and how: targets resolved to pages as of the instant the level is reached."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.escalation.snapshot import PolicySnapshot
from app.models import ContactMethod, NotificationRule, User


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


def _user_pages(index: int, reach: _Reach) -> list[PlannedPage]:
    """A user's rules; with no rules, every contact method at once (the documented default)."""
    rules = [(r.contact_method_id, r.delay_seconds, str(r.id)) for r in reach.rules]
    if not rules:
        rules = [(m, 0, str(m)) for m in reach.methods]
    pages = []
    for method_id, delay, key in rules:
        method = reach.methods.get(method_id)
        if method is None:
            continue
        pages.append(
            PlannedPage(
                index, "user", reach.user.id, method.id, method.type, method.address, delay, key
            )
        )
    return pages


async def plan_levels(session: AsyncSession, policy: PolicySnapshot) -> dict[int, LevelPlan]:
    """For every level of the snapshot: the pages to send and the targets nobody answers for."""
    user_ids = {
        uuid.UUID(t.id) for lvl in policy.levels for t in lvl.targets if t.type == "user" and t.id
    }
    users = await _users(session, user_ids)
    plans: dict[int, LevelPlan] = defaultdict(LevelPlan)
    for number, level in enumerate(policy.levels, start=1):
        plan = plans[number]
        for index, target in enumerate(level.targets):
            if target.type == "webhook" and target.url:
                plan.pages.append(
                    PlannedPage(index, "webhook", None, None, "webhook", target.url, 0, "url")
                )
                continue
            if target.type == "user" and target.id:
                reach = users.get(uuid.UUID(target.id))
                if reach is None:
                    reason = "user no longer exists"
                else:
                    pages = _user_pages(index, reach)
                    plan.pages.extend(pages)
                    if pages:
                        continue
                    reason = "user has no contact method"
            else:
                reason = f"{target.type} targets are not supported"
            plan.unreachable.append({"target": target.to_json(), "reason": reason})
    return plans
