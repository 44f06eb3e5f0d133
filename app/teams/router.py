"""HTTP routes for teams and their members."""

import uuid

from fastapi import APIRouter

from app.auth import Admin, Observer
from app.db import SessionDep
from app.models import Team
from app.repository import get_or_404
from app.teams import service
from app.teams.access import TeamManager
from app.teams.schemas import (
    MemberCreate,
    MemberRead,
    MemberUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)

router = APIRouter(prefix="/teams", tags=["teams"])


@router.post("", status_code=201, response_model=TeamRead)
async def create_team(data: TeamCreate, session: SessionDep, _: Admin) -> Team:
    return await service.create_team(session=session, data=data)


@router.get("", response_model=dict[str, list[TeamRead]])
async def list_teams(
    session: SessionDep, _: Observer, user_id: uuid.UUID | None = None
) -> dict[str, list[Team]]:
    """Every team, or (`?user_id=`) the teams a user belongs to."""
    return {"items": await service.list_teams(session=session, user_id=user_id)}


@router.get("/{team_id}", response_model=TeamRead)
async def get_team(team_id: uuid.UUID, session: SessionDep, _: Observer) -> Team:
    return await get_or_404(session, Team, team_id, what="team")


@router.patch("/{team_id}", response_model=TeamRead)
async def update_team(
    team_id: uuid.UUID, data: TeamUpdate, session: SessionDep, _: TeamManager
) -> Team:
    return await service.update_team(session=session, team_id=team_id, data=data)


@router.delete(
    "/{team_id}",
    status_code=204,
    responses={409: {"description": "The team owns objects or is an escalation target"}},
)
async def delete_team(team_id: uuid.UUID, session: SessionDep, _: Admin) -> None:
    """Delete a team that owns nothing; otherwise 409 with what it owns in `details`."""
    await service.delete_team(session=session, team_id=team_id)


@router.get("/{team_id}/members")
async def list_members(
    team_id: uuid.UUID, session: SessionDep, _: Observer
) -> dict[str, list[MemberRead]]:
    return {"items": await service.list_members(session=session, team_id=team_id)}


@router.post("/{team_id}/members", status_code=201)
async def add_member(
    team_id: uuid.UUID, data: MemberCreate, session: SessionDep, _: TeamManager
) -> MemberRead:
    return await service.add_member(session=session, team_id=team_id, data=data)


@router.patch("/{team_id}/members/{user_id}")
async def update_member(
    team_id: uuid.UUID, user_id: uuid.UUID, data: MemberUpdate, session: SessionDep, _: TeamManager
) -> MemberRead:
    return await service.update_member(session=session, team_id=team_id, user_id=user_id, data=data)


@router.delete("/{team_id}/members/{user_id}", status_code=204)
async def remove_member(
    team_id: uuid.UUID, user_id: uuid.UUID, session: SessionDep, _: TeamManager
) -> None:
    await service.remove_member(session=session, team_id=team_id, user_id=user_id)
