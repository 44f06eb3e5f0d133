"""Acknowledge or resolve as a responder, on the locked incident, from any channel."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.incidents import service
from app.models import Incident, User
from app.store.incidents import lock_incident
from app.teams.access import service_team
from app.teams.rules import ACTING_TEAM_ROLES, refusal_to_act
from app.teams.service import team_roles

ACTIONS = ("acknowledge", "resolve")
DONE = {"acknowledge": "acknowledged", "resolve": "resolved"}
MAY_RESPOND = ("responder", "admin")


@dataclass(frozen=True)
class ActionResult:
    changed: bool
    message: str
    incident: Incident | None = None
    # The person may not act (deleted, or no longer a responder): nothing was changed.
    refused: bool = False


def user_actor(user: User, via: str) -> dict[str, Any]:
    """How a person acting from a page appears on the timeline."""
    return {"type": "user", "id": str(user.id), "name": user.name, "via": via}


def may_not_respond(user: User | None) -> str | None:
    """Why this person may not acknowledge or resolve now; None if they may."""
    if user is None:
        return "The paged user no longer exists in Stairway; nothing was changed."
    if user.role not in MAY_RESPOND:
        return (
            f"{user.name} is an {user.role} in Stairway; only responders and admins "
            "can acknowledge or resolve. Nothing was changed."
        )
    return None


async def may_respond_somewhere(session: AsyncSession, user: User | None) -> bool:
    """Whether the person may act on some incidents: a responder, or a team's responder."""
    if user is None:
        return False
    if user.role in MAY_RESPOND:
        return True
    roles = await team_roles(session, user.id)
    return any(role in ACTING_TEAM_ROLES for role in roles.values())


async def refusal(
    session: AsyncSession, user: User | None, incident: Incident, *, others_allowed: bool
) -> str | None:
    """Why this person may not act on this incident now (app/teams/rules.py); None if they may."""
    owner_team_id = await service_team(session, incident.service_id)
    if user is None or owner_team_id is None:
        return may_not_respond(user)  # a global service: the global role decides
    return refusal_to_act(
        name=user.name,
        global_role=user.role,
        team_roles=await team_roles(session, user.id),
        owner_team_id=owner_team_id,
        others_allowed=others_allowed,
    )


async def act(
    *,
    session: AsyncSession,
    incident_id: uuid.UUID,
    action: str,
    user_id: uuid.UUID,
    via: str,
    now: datetime,
    others_allowed: bool,
) -> ActionResult:
    """Lock the incident and acknowledge or resolve it as the user; a no-op says why.

    `others_allowed`: the STAIRWAY_TEAM_RESPONDERS_ACT_ON_OTHER_TEAMS setting.
    """
    incident = await lock_incident(session, incident_id)
    if incident is None:
        return ActionResult(False, "Incident not found; nothing changed.")
    # Read after the incident's lock (incident before user, as a step writing a page does) and
    # share-locked: a demotion or deletion of this user waits for the action, or is seen by it.
    user = await session.get(User, user_id, with_for_update={"read": True}, populate_existing=True)
    refused = await refusal(session, user, incident, others_allowed=others_allowed)
    if refused is not None:
        return ActionResult(False, refused, incident, refused=True)
    assert user is not None
    actor = user_actor(user, via)
    try:
        if action == "acknowledge":
            changed = await service.acknowledge(
                session=session, incident=incident, actor=actor, now=now
            )
        else:
            changed = await service.resolve(
                session=session, incident=incident, actor=actor, now=now
            )
    except Conflict as exc:
        return ActionResult(False, f"{exc.message}; nothing changed.", incident)
    done = DONE[action]
    if changed:
        return ActionResult(True, f"Incident #{incident.number} {done}: {incident.title}", incident)
    return ActionResult(False, f"Incident #{incident.number} was already {done}.", incident)
