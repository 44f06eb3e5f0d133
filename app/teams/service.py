"""Team management: teams, their members, and what a team owns."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, NotFound, field_error
from app.models import (
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    Schedule,
    Service,
    Team,
    TeamMember,
    User,
    utcnow,
)
from app.repository import apply_changes, flush_unique, get_or_404
from app.teams.schemas import MemberCreate, MemberRead, MemberUpdate, TeamCreate, TeamUpdate


async def _check_schedule(session: AsyncSession, schedule_id: uuid.UUID | None) -> None:
    if schedule_id is not None and await session.get(Schedule, schedule_id) is None:
        raise field_error("oncall_schedule_id", f"unknown schedule {schedule_id}")


async def _flush_name(session: AsyncSession, name: str) -> None:
    await flush_unique(session, field="name", message=f"a team named {name!r} exists")


async def create_team(*, session: AsyncSession, data: TeamCreate) -> Team:
    """Add a team (no members yet)."""
    await _check_schedule(session, data.oncall_schedule_id)
    team = Team(**data.model_dump())
    session.add(team)
    await _flush_name(session, team.name)
    return team


async def list_teams(*, session: AsyncSession, user_id: uuid.UUID | None = None) -> list[Team]:
    """Every team by name, or only those `user_id` belongs to."""
    query = select(Team).order_by(col(Team.name))
    if user_id is not None:
        query = query.join(TeamMember, col(TeamMember.team_id) == col(Team.id)).where(
            col(TeamMember.user_id) == user_id
        )
    return list((await session.scalars(query)).all())


async def update_team(*, session: AsyncSession, team_id: uuid.UUID, data: TeamUpdate) -> Team:
    """Change a team's name, description or on-call schedule (null clears the schedule)."""
    team = await get_or_404(session, Team, team_id, what="team", lock=True)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise field_error("name", "may not be null")
    if "oncall_schedule_id" in changes:
        await _check_schedule(session, changes["oncall_schedule_id"])
    apply_changes(team, changes)
    team.updated_at = utcnow()
    await _flush_name(session, team.name)
    return team


def _named(rows: Any) -> list[dict[str, str]]:
    return [{"id": str(row_id), "name": name} for row_id, name in rows]


async def owned_by(session: AsyncSession, team_id: uuid.UUID) -> dict[str, list[dict[str, str]]]:
    """What stops a team from being deleted: its objects, and policies that escalate to it."""
    owned: dict[str, list[dict[str, str]]] = {}
    for key, model in (
        ("services", Service),
        ("escalation_policies", EscalationPolicy),
        ("schedules", Schedule),
    ):
        query = select(col(model.id), col(model.name)).where(col(model.team_id) == team_id)
        owned[key] = _named(await session.execute(query.order_by(col(model.name))))
    targeting = (
        select(col(EscalationPolicy.id), col(EscalationPolicy.name))
        .join(EscalationLevel, col(EscalationLevel.policy_id) == col(EscalationPolicy.id))
        .join(EscalationTarget, col(EscalationTarget.level_id) == col(EscalationLevel.id))
        .where(col(EscalationTarget.type) == "team", col(EscalationTarget.target_id) == team_id)
        .distinct()
        .order_by(col(EscalationPolicy.name))
    )
    owned["escalating_policies"] = _named(await session.execute(targeting))
    return {key: rows for key, rows in owned.items() if rows}


async def delete_team(*, session: AsyncSession, team_id: uuid.UUID) -> None:
    """Remove a team that owns nothing and that no policy escalates to (409 lists them)."""
    team = await get_or_404(session, Team, team_id, what="team", lock=True)
    owned = await owned_by(session, team_id)
    if owned:
        listing = "; ".join(
            f"{key.replace('_', ' ')}: {', '.join(row['name'] for row in rows)}"
            for key, rows in owned.items()
        )
        raise Conflict(
            f"team {team.name!r} still owns or is the target of objects ({listing}); "
            "move or delete them first",
            details=owned,
        )
    await session.delete(team)
    await session.flush()


def _member_read(member: TeamMember, user: User) -> MemberRead:
    return MemberRead(
        team_id=member.team_id,
        user_id=member.user_id,
        user_name=user.name,
        email=user.email,
        global_role=user.role,
        role=member.role,
        created_at=member.created_at,
    )


async def list_members(*, session: AsyncSession, team_id: uuid.UUID) -> list[MemberRead]:
    """A team's members by name."""
    await get_or_404(session, Team, team_id, what="team")
    query = (
        select(TeamMember, User)
        .join(User, col(User.id) == col(TeamMember.user_id))
        .where(col(TeamMember.team_id) == team_id)
        .order_by(col(User.name))
    )
    return [_member_read(member, user) for member, user in await session.execute(query)]


async def add_member(
    *, session: AsyncSession, team_id: uuid.UUID, data: MemberCreate
) -> MemberRead:
    """Make a user a member of the team with a team role (409 if already a member)."""
    await get_or_404(session, Team, team_id, what="team", lock=True)
    # Key-share locked: a user deleted meanwhile is either gone here or waits for this row.
    user = await session.get(User, data.user_id, with_for_update={"read": True, "key_share": True})
    if user is None:
        raise field_error("user_id", f"unknown user {data.user_id}")
    member = TeamMember(team_id=team_id, user_id=data.user_id, role=data.role)
    session.add(member)
    await flush_unique(
        session, field="user_id", message=f"{user.name} is already a member of this team"
    )
    return _member_read(member, user)


async def _member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> TeamMember:
    await get_or_404(session, Team, team_id, what="team")
    member = await session.scalar(
        select(TeamMember)
        .where(col(TeamMember.team_id) == team_id, col(TeamMember.user_id) == user_id)
        .with_for_update()
    )
    if member is None:
        raise NotFound(f"user {user_id} is not a member of team {team_id}")
    return member


async def update_member(
    *, session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID, data: MemberUpdate
) -> MemberRead:
    """Change a member's team role."""
    member = await _member(session, team_id, user_id)
    member.role = data.role
    await session.flush()
    user = await get_or_404(session, User, user_id, what="user")
    return _member_read(member, user)


async def remove_member(*, session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Take a user out of the team."""
    member = await _member(session, team_id, user_id)
    await session.delete(member)
    await session.flush()


async def team_roles(session: AsyncSession, user_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The user's role in each team they belong to."""
    rows = await session.execute(
        select(col(TeamMember.team_id), col(TeamMember.role)).where(
            col(TeamMember.user_id) == user_id
        )
    )
    return {team_id: role for team_id, role in rows}


async def team_service_ids(session: AsyncSession, team_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the services a team owns."""
    query = select(col(Service.id)).where(col(Service.team_id) == team_id)
    return list((await session.scalars(query)).all())


async def check_team(session: AsyncSession, team_id: uuid.UUID | None) -> None:
    """A 422 on `team_id` if it names no team (None, a global object, is fine)."""
    if team_id is not None and await session.get(Team, team_id) is None:
        raise field_error("team_id", f"unknown team {team_id}")
