"""Writing and reading an incident's timeline."""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import driver_connection
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


def row(
    *,
    incident_id: uuid.UUID,
    type: str,
    at: datetime,
    actor: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An entry as a row for `record_many`."""
    return {
        "incident_id": incident_id,
        "type": type,
        "at": at,
        "actor": actor or SYSTEM,
        "details": details or {},
    }


def cancelled_page(
    *,
    incident_id: uuid.UUID,
    at: datetime,
    notification_id: uuid.UUID,
    user_id: uuid.UUID | None,
    level: int,
    loop: int,
    channel: str,
    reason: str,
) -> dict[str, Any]:
    """The `notification_cancelled` entry of one page that will not be sent, as a row."""
    return row(
        incident_id=incident_id,
        type="notification_cancelled",
        at=at,
        details={
            "notification_id": str(notification_id),
            "user_id": str(user_id) if user_id else None,
            "level": level,
            "loop": loop,
            "channel": channel,
            "reason": reason,
        },
    )


_INSERT = """
INSERT INTO timeline_entries (incident_id, at, type, actor, details)
SELECT e.incident_id, e.at, e.type, e.actor::jsonb, e.details::jsonb
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])
  WITH ORDINALITY AS e(incident_id, at, type, actor, details, n)
ORDER BY e.n
"""


async def record_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Append many entries in one statement, in the order given (flush ORM entries first)."""
    if not rows:
        return
    conn = await driver_connection(session)
    await conn.execute(
        _INSERT,
        [r["incident_id"] for r in rows],
        [r["at"] for r in rows],
        [r["type"] for r in rows],
        [json.dumps(r["actor"]) for r in rows],
        [json.dumps(r["details"]) for r in rows],
    )


async def entries(*, session: AsyncSession, incident_id: uuid.UUID) -> list[TimelineEntry]:
    """The timeline in the order things happened."""
    query = (
        select(TimelineEntry)
        .where(col(TimelineEntry.incident_id) == incident_id)
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list((await session.scalars(query)).all())
