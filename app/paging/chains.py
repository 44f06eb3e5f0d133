"""One personal rule chain per user: a new page supersedes that user's older pending rules."""

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.incidents import timeline
from app.models import Notification


async def supersede_older_chains(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    level: int,
    loop: int,
    user_ids: Iterable[uuid.UUID | None],
    at: datetime,
) -> int:
    """Cancel these users' pending pages decided by an earlier step (level, loop or restart).

    The caller holds the incident lock, so no delivery of these rows is in flight.
    """
    users = {u for u in user_ids if u is not None}
    if not users:
        return 0
    cancelled = await session.execute(
        update(Notification)
        .where(
            col(Notification.incident_id) == incident_id,
            col(Notification.status) == "pending",
            col(Notification.user_id).in_(users),
            # Rows this step wrote carry this transaction's now(); every older chain started before.
            col(Notification.created_at) < func.now(),
        )
        .values(status="cancelled")
        .returning(
            col(Notification.id),
            col(Notification.user_id),
            col(Notification.level),
            col(Notification.loop),
            col(Notification.channel),
        )
    )
    count = 0
    for notification_id, user_id, old_level, old_loop, channel in cancelled:
        count += 1
        timeline.record(
            session,
            incident_id=incident_id,
            type="notification_cancelled",
            at=at,
            details={
                "notification_id": str(notification_id),
                "user_id": str(user_id),
                "level": old_level,
                "loop": old_loop,
                "channel": channel,
                "reason": f"superseded by the page at level {level} (loop {loop})",
            },
        )
    return count
