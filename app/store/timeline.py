"""An incident's timeline: its one writer (`append`) and its reader.

Every entry goes through `append`, one statement for any number of entries, written in the
order given and at once: an entry recorded before another comes before it on the timeline.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import driver_connection
from app.jsonsafe import encode
from app.models import TimelineEntry

SYSTEM = {"type": "system", "name": "stairway"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry to write: what happened to which incident, when, and who did it."""

    incident_id: uuid.UUID
    type: str
    at: datetime
    actor: dict[str, Any] = field(default_factory=lambda: SYSTEM)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recorded:
    """An entry as written, with its id (the API's `TimelineItem`)."""

    id: int
    at: datetime
    type: str
    actor: dict[str, Any]
    details: dict[str, Any]


_INSERT = """
INSERT INTO timeline_entries (incident_id, at, type, actor, details)
SELECT e.incident_id, e.at, e.type, e.actor::jsonb, e.details::jsonb
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])
  WITH ORDINALITY AS e(incident_id, at, type, actor, details, n)
ORDER BY e.n
RETURNING id
"""


async def append(session: AsyncSession, entries: Sequence[Entry]) -> list[int]:
    """Write the entries in one statement, in the order given; their ids."""
    if not entries:
        return []
    # Most entries of a batch share one actor object (the system's): each is encoded once.
    actors: dict[int, str] = {}
    for entry in entries:
        if id(entry.actor) not in actors:
            actors[id(entry.actor)] = encode(entry.actor).decode()
    conn = await driver_connection(session)
    rows = await conn.fetch(
        _INSERT,
        [e.incident_id for e in entries],
        [e.at for e in entries],
        [e.type for e in entries],
        [actors[id(e.actor)] for e in entries],
        [encode(e.details).decode() for e in entries],
    )
    return sorted(row[0] for row in rows)


async def record(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    type: str,
    at: datetime,
    actor: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> Recorded:
    """Write one entry; it commits with the change it describes."""
    entry = Entry(incident_id, type, at, actor or SYSTEM, details or {})
    [entry_id] = await append(session, [entry])
    return Recorded(entry_id, entry.at, entry.type, entry.actor, entry.details)


@dataclass(frozen=True, slots=True)
class CancelledPage:
    """A pending page (notification) that will not be sent, as its cancelling UPDATE returns it."""

    id: uuid.UUID
    incident_id: uuid.UUID
    user_id: uuid.UUID | None
    level: int
    loop: int
    channel: str


def cancelled_page(page: CancelledPage, *, at: datetime, reason: str) -> Entry:
    """The `notification_cancelled` entry of one page that will not be sent."""
    return Entry(
        page.incident_id,
        "notification_cancelled",
        at,
        details={
            "notification_id": str(page.id),
            "user_id": str(page.user_id) if page.user_id else None,
            "level": page.level,
            "loop": page.loop,
            "channel": page.channel,
            "reason": reason,
        },
    )


async def entries(*, session: AsyncSession, incident_id: uuid.UUID) -> list[TimelineEntry]:
    """The timeline in the order things happened."""
    query = (
        select(TimelineEntry)
        .where(col(TimelineEntry.incident_id) == incident_id)
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list((await session.scalars(query)).all())
