"""One personal rule chain per user: a new page supersedes that user's older pending rules."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection
from app.store import timeline


@dataclass(frozen=True)
class NewChain:
    """The users a step just paged on an incident, at a level and loop, as of `at`."""

    incident_id: uuid.UUID
    level: int
    loop: int
    user_ids: frozenset[uuid.UUID]
    at: datetime


# Rows this step wrote carry a created_at after this transaction's now(); older chains before.
_SUPERSEDE = """
UPDATE notifications n SET status = 'cancelled'
FROM unnest($1::uuid[], $2::uuid[]) AS c(incident_id, user_id)
WHERE n.incident_id = c.incident_id AND n.user_id = c.user_id
  AND n.status = 'pending' AND n.created_at < now()
RETURNING n.id, n.incident_id, n.user_id, n.level, n.loop, n.channel
"""


async def supersede_older_chains(
    session: AsyncSession, chains: Sequence[NewChain]
) -> list[timeline.Entry]:
    """Cancel these users' pending pages decided by an earlier step (level, loop or restart).

    One statement for every chain; returns the timeline entries that record each cancellation.
    The caller holds the incidents' locks, so no delivery of these rows is in flight.
    """
    by_incident = {chain.incident_id: chain for chain in chains if chain.user_ids}
    if not by_incident:
        return []
    pairs = [(c.incident_id, user_id) for c in by_incident.values() for user_id in c.user_ids]
    conn = await driver_connection(session)
    cancelled = await conn.fetch(_SUPERSEDE, [p[0] for p in pairs], [p[1] for p in pairs])
    entries = []
    for row in cancelled:
        page = timeline.CancelledPage(**row)
        chain = by_incident[page.incident_id]
        reason = f"superseded by the page at level {chain.level} (loop {chain.loop})"
        entries.append(timeline.cancelled_page(page, at=chain.at, reason=reason))
    return entries
