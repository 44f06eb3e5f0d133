"""Reading incidents for the API, the console and the responders: filtered keyset pages, counts,
numbers to ids, what paged a user."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, any_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Incident, Notification


@dataclass(frozen=True, slots=True)
class Involvement:
    """ "Mine": incidents that paged this user, or whose policy names the user or a schedule
    the user is on call for now."""

    user_id: uuid.UUID
    schedule_ids: tuple[uuid.UUID, ...] = ()


def _involving(who: Involvement) -> Any:
    # One OR of indexable conditions (ix_notifications_user_incident gives the paged ids once,
    # ix_incidents_policy_snapshot the policies naming the viewer): PostgreSQL combines them
    # when few incidents are the viewer's and walks the newest first when most are.
    paged_ids = select(col(Notification.incident_id)).where(
        col(Notification.user_id) == who.user_id
    )
    paged = col(Incident.id) == any_(func.array(paged_ids.scalar_subquery()))
    targets = [{"type": "user", "id": str(who.user_id)}]
    targets += [{"type": "schedule", "id": str(sid)} for sid in who.schedule_ids]
    named = [
        col(Incident.policy_snapshot).contains({"levels": [{"targets": [target]}]})
        for target in targets
    ]
    return or_(paged, *named)


async def page_of_incidents(
    session: AsyncSession,
    *,
    statuses: list[str],
    service_ids: list[uuid.UUID],
    since: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    urgencies: list[str] | None = None,
    priorities: list[str] | None = None,
    involving: Involvement | None = None,
) -> list[Incident]:
    """Newest first, filtered, from after (created_at, id) on: up to `limit` incidents."""
    query = select(Incident)
    if statuses:
        query = query.where(col(Incident.status).in_(statuses))
    if service_ids:
        query = query.where(col(Incident.service_id).in_(service_ids))
    if urgencies:
        query = query.where(col(Incident.urgency).in_(urgencies))
    if priorities:
        query = query.where(col(Incident.priority).in_(priorities))
    if involving is not None:
        query = query.where(_involving(involving))
    if since is not None:
        query = query.where(col(Incident.created_at) >= since)
    if after is not None:
        created, id_ = after
        query = query.where(
            or_(
                col(Incident.created_at) < created,
                and_(col(Incident.created_at) == created, col(Incident.id) < id_),
            )
        )
    query = query.order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
    return list((await session.scalars(query.limit(limit))).all())


async def count_by_status(session: AsyncSession, *, status: str) -> int:
    """How many incidents have this status (e.g. triggered, for the console's tab title)."""
    query = select(func.count()).select_from(Incident).where(col(Incident.status) == status)
    return int(await session.scalar(query) or 0)


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    """How many incidents have each status (statuses no incident has are left out)."""
    query = select(col(Incident.status), func.count()).group_by(col(Incident.status))
    return {status: count for status, count in await session.execute(query)}


async def services_with_incidents(session: AsyncSession) -> set[uuid.UUID]:
    """The services some incident belongs to, open or closed."""
    query = select(col(Incident.service_id)).distinct()
    return set((await session.scalars(query)).all())


async def triggered_paging(
    session: AsyncSession, *, user_id: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """Up to `limit` triggered incidents that paged this user, in id order (the lock order)."""
    query = (
        select(col(Incident.id))
        .join(Notification, col(Notification.incident_id) == col(Incident.id))
        .where(col(Notification.user_id) == user_id, col(Incident.status) == "triggered")
        .distinct()
        .order_by(col(Incident.id))
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def ids_by_number(session: AsyncSession, *, numbers: list[int]) -> dict[int, uuid.UUID]:
    """The ids of the incidents with these numbers (unknown numbers are left out)."""
    if not numbers:
        return {}
    query = select(col(Incident.number), col(Incident.id)).where(col(Incident.number).in_(numbers))
    return {number: id_ for number, id_ in await session.execute(query) if number is not None}
