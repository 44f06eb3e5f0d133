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
    rows = []
    for notification_id, incident_id, user_id, old_level, old_loop, channel in cancelled:
        chain = by_incident[incident_id]
        rows.append(
            timeline.cancelled_page(
                incident_id=incident_id,
                at=chain.at,
                notification_id=notification_id,
                user_id=user_id,
                level=old_level,
                loop=old_loop,
                channel=channel,
                reason=f"superseded by the page at level {chain.level} (loop {chain.loop})",
            )
        )
    return rows


# Lock order incident → notification, as an acknowledgement takes it; ids in order.
_LOCK_INCIDENTS_PAGING = """
SELECT i.id FROM incidents AS i
WHERE i.id IN (SELECT incident_id FROM notifications WHERE user_id = $1 AND status = 'pending')
ORDER BY i.id
FOR UPDATE OF i
"""
_CANCEL_USER_PAGES = """
UPDATE notifications SET status = 'cancelled'
WHERE user_id = $1 AND status = 'pending' AND incident_id = ANY($2::uuid[])
RETURNING id, incident_id, level, loop, channel
"""


async def cancel_pages_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, at: datetime, reason: str
) -> int:
    """Cancel every pending page of a user (their personal rule chains), each on its timeline.

    Pages a step writes for the user after the incidents were locked here are cancelled by the
    deliverer (their user is gone by then). Returns how many were cancelled here.
    """
    conn = await driver_connection(session)
    incident_ids = [row[0] for row in await conn.fetch(_LOCK_INCIDENTS_PAGING, user_id)]
    if not incident_ids:
        return 0
    cancelled = await conn.fetch(_CANCEL_USER_PAGES, user_id, incident_ids)
    await timeline.append(
        session,
        [
            timeline.cancelled_page(
                incident_id=incident_id,
                at=at,
                notification_id=notification_id,
                user_id=user_id,
                level=level,
                loop=loop,
                channel=channel,
                reason=reason,
            )
            for notification_id, incident_id, level, loop, channel in cancelled
        ],
    )
    return len(cancelled)
