"""Writing and reading an incident's timeline."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import TimelineEntry

SYSTEM = {"type": "system", "name": "stairway"}


def record(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    type: str,
    at: datetime,
    actor: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append an entry; it commits with the change it describes."""
    entry = TimelineEntry(
        incident_id=incident_id, type=type, at=at, actor=actor or SYSTEM, details=details or {}
    )
    session.add(entry)
    return entry


async def entries(*, session: AsyncSession, incident_id: uuid.UUID) -> list[TimelineEntry]:
    """The timeline in the order things happened."""
    query = (
        select(TimelineEntry)
        .where(col(TimelineEntry.incident_id) == incident_id)
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list((await session.scalars(query)).all())
