"""Who a team escalation target reaches: its on-call schedule and its managers (reads only)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Team, TeamMember, User


@dataclass(frozen=True)
class TeamReach:
    """A team as an escalation target: its on-call schedule and its managers (by name)."""

    team_id: uuid.UUID
    name: str
    schedule_id: uuid.UUID | None
    manager_ids: tuple[uuid.UUID, ...]


async def team_reach(
    session: AsyncSession, team_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, TeamReach]:
    """Each existing team's on-call schedule and managers; a deleted team is absent."""
    wanted = set(team_ids)
    if not wanted:
        return {}
    teams = (await session.execute(select(Team).where(col(Team.id).in_(wanted)))).scalars()
    managers = await session.execute(
        select(col(TeamMember.team_id), col(TeamMember.user_id))
        .join(User, col(User.id) == col(TeamMember.user_id))
        .where(col(TeamMember.team_id).in_(wanted), col(TeamMember.role) == "manager")
        .order_by(col(User.name), col(User.id))
    )
    by_team: dict[uuid.UUID, list[uuid.UUID]] = {}
    for team_id, user_id in managers:
        by_team.setdefault(team_id, []).append(user_id)
    return {
        team.id: TeamReach(
            team.id, team.name, team.oncall_schedule_id, tuple(by_team.get(team.id, ()))
        )
        for team in teams
    }
