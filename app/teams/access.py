"""Team permission checks as request dependencies: the object's owner team decides.

Path-scoped routes check the object named in the path before the body is read, so a caller
who may not touch it gets a 403 whatever they send.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from app.auth import Principal, get_principal
from app.db import SessionDep
from app.errors import Forbidden, NotFound, field_error
from app.models import EscalationPolicy, Incident, Schedule, Service, TeamMember, User
from app.store.incidents import Owner, incident_owner
from app.teams.rules import may_manage, refusal_to_act
from app.teams.service import team_roles


def others_allowed(request: Request) -> bool:
    """STAIRWAY_TEAM_RESPONDERS_ACT_ON_OTHER_TEAMS: may responders act on other teams' incidents?"""
    return bool(request.app.state.settings.team_responders_act_on_other_teams)


def _user(principal: Principal) -> uuid.UUID:
    if principal.is_integration or principal.user_id is None:
        raise Forbidden("integration keys may only send events")
    return principal.user_id


def _path_id(request: Request, param: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params[param]))
    except ValueError:
        raise field_error(param, "not a valid UUID") from None


async def check_manages(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID | None
) -> None:
    """403 unless the caller is an admin or a manager of `team_id` (None: global, admins only)."""
    user_id = _user(principal)
    if principal.role == "admin":
        return
    roles = await team_roles(session, user_id)
    if not may_manage(global_role=principal.role, team_roles=roles, team_id=team_id):
        if team_id is None:
            raise Forbidden("objects of no team are changed by admins only")
        raise Forbidden(f"this action needs the admin role or the manager role of team {team_id}")


async def check_move(
    session: AsyncSession,
    principal: Principal,
    changes: dict[str, object],
    current_team_id: uuid.UUID | None,
) -> None:
    """A change of owner team needs the right to manage the new owner too."""
    if "team_id" in changes and changes["team_id"] != current_team_id:
        new_team = changes["team_id"]
        assert new_team is None or isinstance(new_team, uuid.UUID)
        await check_manages(session, principal, new_team)


async def _manages_any(session: AsyncSession, principal: Principal) -> Principal:
    user_id = _user(principal)
    if principal.role == "admin":
        return principal
    managed = await session.scalar(
        select(
            exists().where(col(TeamMember.user_id) == user_id, col(TeamMember.role) == "manager")
        )
    )
    if not managed:
        raise Forbidden("this action needs the admin role or a team's manager role")
    return principal


async def require_creator(
    session: SessionDep, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    """Admins, and managers of some team (the handler checks the team the body names)."""
    return await _manages_any(session, principal)


def managing(model: type[SQLModel], param: str, what: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting admins and managers of the team owning the object at `param`."""

    async def check(
        request: Request,
        session: SessionDep,
        principal: Annotated[Principal, Depends(get_principal)],
    ) -> Principal:
        object_id = _path_id(request, param)
        if principal.role != "admin":
            _user(principal)
        row = await session.get(model, object_id)
        if row is None:
            if principal.role == "admin":
                return principal  # the handler says 404
            await _manages_any(session, principal)
            raise NotFound(f"{what} {object_id} not found")
        await check_manages(session, principal, getattr(row, "team_id", None))
        return principal

    return check


async def _manages_team(
    request: Request, session: SessionDep, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    await check_manages(session, principal, _path_id(request, "team_id"))
    return principal


async def service_team(session: AsyncSession, service_id: uuid.UUID) -> uuid.UUID | None:
    """The team owning a service (None: global)."""
    return await session.scalar(select(col(Service.team_id)).where(col(Service.id) == service_id))


async def check_may_act(
    session: AsyncSession, principal: Principal, incident: Incident, *, others_allowed: bool
) -> None:
    """403 unless the caller may act on this incident (app/teams/rules.py)."""
    user_id = _user(principal)
    if principal.role == "admin":
        return
    roles = await team_roles(session, user_id)
    refused = refusal_to_act(
        name=principal.name,
        global_role=principal.role,
        team_roles=roles,
        owner_team_id=await service_team(session, incident.service_id),
        others_allowed=others_allowed,
    )
    if refused is not None:
        raise Forbidden(refused)


async def viewer_refusal(
    session: AsyncSession, user_id: uuid.UUID, incident: Incident, *, others_allowed: bool
) -> str | None:
    """Why the console's signed-in person may not act on this incident; None if they may."""
    user = await session.get(User, user_id)
    if user is None:
        return "your user no longer exists"
    return refusal_to_act(
        name=user.name,
        global_role=user.role,
        team_roles=await team_roles(session, user_id),
        owner_team_id=await service_team(session, incident.service_id),
        others_allowed=others_allowed,
    )


def may_act(principal: Principal, owner: Owner, *, others_allowed: bool) -> None:
    """403 unless `principal` may act on an incident whose service `owner` describes."""
    _user(principal)
    if principal.role == "admin":
        return
    refused = refusal_to_act(
        name=principal.name,
        global_role=principal.role,
        team_roles={owner.team_id: owner.role} if owner.team_id and owner.role else {},
        owner_team_id=owner.team_id,
        others_allowed=others_allowed,
    )
    if refused is not None:
        raise Forbidden(refused)


async def _acts_on_incident(
    request: Request, session: SessionDep, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    # `check_may_act` in one statement: every action on an incident starts here.
    owner = await incident_owner(session, _path_id(request, "incident_id"), principal.user_id)
    if owner is None:
        raise NotFound(f"incident {request.path_params['incident_id']} not found")
    may_act(principal, owner, others_allowed=others_allowed(request))
    return principal


Creator = Annotated[Principal, Depends(require_creator)]
ServiceManager = Annotated[Principal, Depends(managing(Service, "service_id", "service"))]
ScheduleManager = Annotated[Principal, Depends(managing(Schedule, "schedule_id", "schedule"))]
PolicyManager = Annotated[
    Principal, Depends(managing(EscalationPolicy, "policy_id", "escalation policy"))
]
TeamManager = Annotated[Principal, Depends(_manages_team)]
IncidentResponder = Annotated[Principal, Depends(_acts_on_incident)]
