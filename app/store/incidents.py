"""The incident row's escalation fields: locking an incident, fencing its step jobs, moving it.

Every change of an incident's escalation position goes through `place` (one incident, through
the ORM) or `write_positions` (a batch of steps, one statement); both fence the step jobs armed
for the old position with `fenced`.
"""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.escalation.engine import Position
from app.models import Incident


def fenced(token: int) -> int:
    """The step token after a change: a step job armed with an older one does nothing."""
    return token + 1


async def lock_incident(session: AsyncSession, incident_id: uuid.UUID) -> Incident | None:
    """The incident row, locked for update."""
    return await session.get(Incident, incident_id, with_for_update=True, populate_existing=True)


def place(incident: Incident, position: Position, *, now: datetime) -> None:
    """Move the (locked) incident to `position`; the step jobs armed before are void."""
    incident.escalation_level, incident.escalation_loop = position.level, position.loop
    incident.level_entered_at, incident.next_due_at = position.entered_at, position.due_at
    incident.step_token = fenced(incident.step_token)
    incident.updated_at = now


def stop(incident: Incident, *, now: datetime) -> None:
    """No step is due any more (acknowledged, snoozed, resolved): the armed ones are void."""
    incident.next_due_at = None
    incident.step_token = fenced(incident.step_token)
    incident.updated_at = now
