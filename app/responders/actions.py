"""Acknowledge or resolve as a responder, on the locked incident, from any channel."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict
from app.incidents import service
from app.models import Incident, User

ACTIONS = ("acknowledge", "resolve")
DONE = {"acknowledge": "acknowledged", "resolve": "resolved"}
MAY_RESPOND = ("responder", "admin")


@dataclass(frozen=True)
class ActionResult:
    changed: bool
    message: str
    incident: Incident | None = None


def user_actor(user: User, via: str) -> dict[str, Any]:
    """How a person acting from a page appears on the timeline."""
    return {"type": "user", "id": str(user.id), "name": user.name, "via": via}


async def incident_by_number(session: AsyncSession, number: int) -> uuid.UUID | None:
    """The id of incident #number."""
    return await session.scalar(select(col(Incident.id)).where(col(Incident.number) == number))


async def act(
    *,
    session: AsyncSession,
    incident_id: uuid.UUID,
    action: str,
    actor: dict[str, Any],
    now: datetime,
) -> ActionResult:
    """Lock the incident and acknowledge or resolve it; a no-op says why."""
    incident = await service.lock_incident(session, incident_id)
    if incident is None:
        return ActionResult(False, "Incident not found; nothing changed.")
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
