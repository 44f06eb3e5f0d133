"""Who a level pages, and how: targets resolved to pages as of the instant the level is reached."""

import uuid
from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.escalation.snapshot import PolicySnapshot, TargetSnapshot
from app.schedules.oncall import OnCall, resolve_on_call
from app.store.reach import Reach, read_reach
from app.teams.oncall import TeamReach, team_reach


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


def _user_pages(
    index: int, target_type: str, reach: Reach, urgency: str
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
                reach.user_id,
                method.id,
                method.type,
                method.address,
                delay,
                key,
            )
        )
    if pages:
        return pages, None
    if reach.unverified:
        return [], "user has no verified contact method"
    return [], "user has no contact method"


@dataclass
class _Planner:
    users: dict[uuid.UUID, Reach]
    on_call: dict[uuid.UUID, OnCall | None]
    urgency: str
    teams: dict[uuid.UUID, TeamReach] = field(default_factory=dict)

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
        elif target.type == "team" and target.id:
            return self.team(plan, index, target, paged)
        else:
            return {**unreachable, "reason": f"{target.type} targets are not supported"}
        reason = self.user(plan, index, target.type, user_id, paged)
        return None if reason is None else {**unreachable, "reason": reason}

    def user(
        self,
        plan: LevelPlan,
        index: int,
        target_type: str,
        user_id: uuid.UUID,
        paged: set[uuid.UUID],
    ) -> str | None:
        """Add one user's pages; or say why they cannot be reached."""
        if user_id in paged:
            return None  # one rule chain per user per level, however many targets name them
        reach = self.users.get(user_id)
        if reach is None:
            return "user no longer exists"
        pages, reason = _user_pages(index, target_type, reach, self.urgency)
        plan.pages.extend(pages)
        if pages:
            paged.add(user_id)
            return None
        return reason

    def team(
        self, plan: LevelPlan, index: int, target: TargetSnapshot, paged: set[uuid.UUID]
    ) -> dict[str, Any] | None:
        """The team's on-call person, or (no schedule, or nobody on call) all its managers."""
        unreachable: dict[str, Any] = {"target": target.to_json()}
        team = self.teams.get(uuid.UUID(str(target.id)))
        if team is None:
            return {**unreachable, "reason": "team no longer exists"}
        current = self.on_call.get(team.schedule_id) if team.schedule_id else None
        resolved: dict[str, Any] = {"team_id": str(team.team_id), "team_name": team.name}
        if current is not None:
            resolved |= {"via": "schedule", **current.to_json()}
            user_ids: tuple[uuid.UUID, ...] = (current.user_id,)
        else:
            schedule = str(team.schedule_id) if team.schedule_id else None
            managers = [str(m) for m in team.manager_ids]
            resolved |= {"via": "managers", "schedule_id": schedule, "user_ids": managers}
            user_ids = team.manager_ids
        plan.on_call.append({"target_index": index, **resolved})
        unreachable["on_call"] = resolved
        if not user_ids:
            return {**unreachable, "reason": "team has nobody on call and no managers"}
        reasons = [self.user(plan, index, "team", user_id, paged) for user_id in user_ids]
        if any(reason is None for reason in reasons):
            return None
        return {**unreachable, "reason": "; ".join(sorted({r for r in reasons if r}))}


K = TypeVar("K", bound=Hashable)


async def plan_many(
    session: AsyncSession, wanted: Mapping[K, tuple[PolicySnapshot, str]], at: datetime
) -> dict[K, dict[int, LevelPlan]]:
    """`plan_levels` for many (policy, urgency) pairs at one instant, in a few queries in all."""
    targets = [t for policy, _ in wanted.values() for lvl in policy.levels for t in lvl.targets]
    schedule_ids = {uuid.UUID(t.id) for t in targets if t.type == "schedule" and t.id}
    teams = await team_reach(
        session, {uuid.UUID(t.id) for t in targets if t.type == "team" and t.id}
    )
    schedule_ids |= {team.schedule_id for team in teams.values() if team.schedule_id}
    on_call = await resolve_on_call(session, schedule_ids, at)
    user_ids = {uuid.UUID(t.id) for t in targets if t.type == "user" and t.id}
    user_ids |= {current.user_id for current in on_call.values() if current is not None}
    user_ids |= {manager for team in teams.values() for manager in team.manager_ids}
    users = await read_reach(session, user_ids)
    return {
        key: _plan(policy, _Planner(users, on_call, urgency, teams))
        for key, (policy, urgency) in wanted.items()
    }


def _plan(policy: PolicySnapshot, planner: _Planner) -> dict[int, LevelPlan]:
    plans: dict[int, LevelPlan] = defaultdict(LevelPlan)
    for number, level in enumerate(policy.levels, start=1):
        plan = plans[number]
        paged: set[uuid.UUID] = set()
        for index, target in enumerate(level.targets):
            unreachable = planner.target(plan, index, target, paged)
            if unreachable is not None:
                plan.unreachable.append(unreachable)
    return plans


async def plan_levels(
    session: AsyncSession, policy: PolicySnapshot, at: datetime, *, urgency: str
) -> dict[int, LevelPlan]:
    """For every level: the pages to send if it is entered at `at`, and who cannot be reached.

    Schedule targets resolve to whoever is on call at `at`; rules apply by the incident urgency.
    """
    return (await plan_many(session, {0: (policy, urgency)}, at))[0]
