"""Escalation policy management and the snapshot frozen onto incidents."""

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, InvalidInput
from app.escalation.snapshot import LevelSnapshot, PolicySnapshot, TargetSnapshot
from app.models import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    RoutingRule,
    Schedule,
    Service,
    Team,
    User,
    utcnow,
)
from app.outbound import check_destination
from app.policies.schemas import Level, PolicyCreate, PolicyRead, PolicyUpdate, Target, TargetType
from app.repository import flush_unique, get_or_404
from app.routing.matcher import for_urgency
from app.teams.service import check_team


async def _check_targets(session: AsyncSession, levels: Sequence[Level]) -> None:
    """Every user/schedule target must exist; the error names the first bad one."""
    wanted = {
        (t.type, t.id) for lvl in levels for t in lvl.targets if t.type is not TargetType.WEBHOOK
    }
    user_ids = {i for kind, i in wanted if kind is TargetType.USER}
    schedule_ids = {i for kind, i in wanted if kind is TargetType.SCHEDULE}
    team_ids = {i for kind, i in wanted if kind is TargetType.TEAM}
    # Key-share locked: a user being deleted now is either gone here, or waits for this policy
    # and then sees it (deleting a user a policy names is refused).
    users = (
        select(col(User.id))
        .where(col(User.id).in_(user_ids))
        .with_for_update(read=True, key_share=True)
    )
    schedules = select(col(Schedule.id)).where(col(Schedule.id).in_(schedule_ids))
    # Key-share locked: a team being deleted now waits for this policy, then sees it targeted.
    teams = (
        select(col(Team.id))
        .where(col(Team.id).in_(team_ids))
        .with_for_update(read=True, key_share=True)
    )
    found = {
        TargetType.USER: set((await session.scalars(users)).all()),
        TargetType.SCHEDULE: set((await session.scalars(schedules)).all()),
        TargetType.TEAM: set((await session.scalars(teams)).all()),
    }
    errors = []
    for li, lvl in enumerate(levels):
        for ti, t in enumerate(lvl.targets):
            if t.type is not TargetType.WEBHOOK and t.id not in found[t.type]:
                field = f"levels[{li}].targets[{ti}].id"
                errors.append({"field": field, "message": f"unknown {t.type.value} {t.id}"})
    if errors:
        message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise InvalidInput(message, details=errors)


async def policies_naming_user(session: AsyncSession, user_id: uuid.UUID) -> list[EscalationPolicy]:
    """The escalation policies with a level that targets this user, by name."""
    query = (
        select(EscalationPolicy)
        .join(EscalationLevel, col(EscalationLevel.policy_id) == col(EscalationPolicy.id))
        .join(EscalationTarget, col(EscalationTarget.level_id) == col(EscalationLevel.id))
        .where(
            col(EscalationTarget.type) == TargetType.USER.value,
            col(EscalationTarget.target_id) == user_id,
        )
        .distinct()
        .order_by(col(EscalationPolicy.name))
    )
    return list((await session.scalars(query)).all())


def _check_webhook_urls(levels: Sequence[Level], *, allow_private: bool) -> None:
    """Every webhook target passes the outbound URL rule; the error names the first bad one."""
    for li, lvl in enumerate(levels):
        for ti, t in enumerate(lvl.targets):
            if t.type is TargetType.WEBHOOK and t.url is not None:
                field = f"levels[{li}].targets[{ti}].url"
                check_destination(t.url, allow_private=allow_private, field=field)


def _level_rows(policy_id: uuid.UUID, levels: Sequence[Level]) -> list[object]:
    rows: list[object] = []
    for position, lvl in enumerate(levels, start=1):
        level = EscalationLevel(
            policy_id=policy_id,
            position=position,
            escalate_after_seconds=lvl.escalate_after_seconds,
            condition=lvl.condition.value,
        )
        rows.append(level)
        rows.extend(
            EscalationTarget(
                level_id=level.id, position=tp, type=t.type.value, target_id=t.id, url=t.url
            )
            for tp, t in enumerate(lvl.targets, start=1)
        )
    return rows


async def _flush_name(session: AsyncSession, name: str) -> None:
    message = f"an escalation policy named {name!r} exists"
    await flush_unique(session, field="name", message=message)


async def create_policy(
    *, session: AsyncSession, data: PolicyCreate, allow_private: bool
) -> PolicyRead:
    """Add a policy with its levels and targets (webhook URLs under the outbound URL rule)."""
    _check_webhook_urls(data.levels, allow_private=allow_private)
    await _check_targets(session, data.levels)
    await check_team(session, data.team_id)
    policy = EscalationPolicy(
        name=data.name, description=data.description, team_id=data.team_id, repeat=data.repeat
    )
    session.add(policy)
    await _flush_name(session, data.name)
    session.add_all(_level_rows(policy.id, data.levels))
    await session.flush()
    return await read_policy(session=session, policy_id=policy.id)


async def update_policy(
    *, session: AsyncSession, policy_id: uuid.UUID, data: PolicyUpdate, allow_private: bool
) -> PolicyRead:
    """Change a policy; incidents already in flight keep their snapshot."""
    policy = await get_or_404(
        session, EscalationPolicy, policy_id, what="escalation policy", lock=True
    )
    if data.levels is not None:
        _check_webhook_urls(data.levels, allow_private=allow_private)
        await _check_targets(session, data.levels)
        await session.execute(
            delete(EscalationLevel).where(col(EscalationLevel.policy_id) == policy_id)
        )
        session.add_all(_level_rows(policy_id, data.levels))
    for field in ("name", "description", "repeat"):
        value = getattr(data, field)
        if value is not None:
            setattr(policy, field, value)
    if "team_id" in data.model_fields_set:  # an explicit null makes the policy global
        await check_team(session, data.team_id)
        policy.team_id = data.team_id
    policy.updated_at = utcnow()
    await _flush_name(session, policy.name)
    return await read_policy(session=session, policy_id=policy_id)


async def delete_policy(*, session: AsyncSession, policy_id: uuid.UUID) -> None:
    """Remove a policy no service uses."""
    policy = await get_or_404(session, EscalationPolicy, policy_id, what="escalation policy")
    users = await session.scalar(
        select(func.count())
        .select_from(Service)
        .where(col(Service.escalation_policy_id) == policy_id)
    )
    if users:
        raise Conflict(f"escalation policy {policy_id} is used by {users} service(s)")
    rules = await session.scalar(
        select(func.count()).where(col(RoutingRule.escalation_policy_id) == policy_id)
    )
    if rules:
        raise Conflict(f"escalation policy {policy_id} is used by {rules} routing rule(s)")
    await session.delete(policy)
    await session.flush()


async def _levels_of(
    session: AsyncSession, policy_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[EscalationLevel, list[EscalationTarget]]]]:
    query = (
        select(EscalationLevel, EscalationTarget)
        .join(EscalationTarget, col(EscalationTarget.level_id) == col(EscalationLevel.id))
        .where(col(EscalationLevel.policy_id).in_(policy_ids))
        .order_by(col(EscalationLevel.position), col(EscalationTarget.position))
    )
    levels: dict[uuid.UUID, dict[uuid.UUID, tuple[EscalationLevel, list[EscalationTarget]]]]
    levels = defaultdict(dict)
    for level, target in await session.execute(query):
        entry = levels[level.policy_id].setdefault(level.id, (level, []))
        entry[1].append(target)
    return {pid: list(by_level.values()) for pid, by_level in levels.items()}


def _read(
    policy: EscalationPolicy, levels: list[tuple[EscalationLevel, list[EscalationTarget]]]
) -> PolicyRead:
    return PolicyRead(
        id=policy.id,
        name=policy.name,
        description=policy.description,
        team_id=policy.team_id,
        repeat=policy.repeat,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
        levels=[
            Level(
                escalate_after_seconds=lvl.escalate_after_seconds,
                condition=lvl.condition,
                targets=[
                    Target(type=TargetType(t.type), id=t.target_id, url=t.url) for t in targets
                ],
            )
            for lvl, targets in levels
        ],
    )


async def read_policy(*, session: AsyncSession, policy_id: uuid.UUID) -> PolicyRead:
    """A policy with its levels."""
    policy = await get_or_404(session, EscalationPolicy, policy_id, what="escalation policy")
    return _read(policy, (await _levels_of(session, [policy_id])).get(policy_id, []))


async def list_policies(
    *, session: AsyncSession, team_id: uuid.UUID | None = None
) -> list[PolicyRead]:
    """Every policy with its levels by name, or only those of one team."""
    query = select(EscalationPolicy).order_by(col(EscalationPolicy.name))
    if team_id is not None:
        query = query.where(col(EscalationPolicy.team_id) == team_id)
    policies = (await session.scalars(query)).all()
    levels = await _levels_of(session, [p.id for p in policies])
    return [_read(p, levels.get(p.id, [])) for p in policies]


def snapshot_of(policy: PolicyRead) -> PolicySnapshot:
    """The immutable copy of a policy that an incident escalates by."""
    return PolicySnapshot(
        id=str(policy.id),
        name=policy.name,
        repeat=policy.repeat,
        levels=tuple(
            LevelSnapshot(
                escalate_after_seconds=lvl.escalate_after_seconds,
                condition=lvl.condition,
                targets=tuple(
                    TargetSnapshot(type=t.type.value, id=str(t.id) if t.id else None, url=t.url)
                    for t in lvl.targets
                ),
            )
            for lvl in policy.levels
        ),
    )


def frozen_snapshot(policy: PolicyRead, *, urgency: str) -> PolicySnapshot:
    """What an incident of `urgency` escalates by: the live engine and the preview both use it."""
    return for_urgency(snapshot_of(policy), urgency)
