"""Finding the incident an inbound event or an alert request names, within one service."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import OPEN_STATUSES, Incident


@dataclass(frozen=True, slots=True)
class Alert:
    """An incident as an alert request names it: its id and its dedup key."""

    id: uuid.UUID
    dedup_key: str


async def _locked(session: AsyncSession, query: Any) -> Incident | None:
    query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def lock_targeted(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    dedup_key: str,
    or_latest: bool,
) -> Incident | None:
    """The service's incident an event acts on, locked: the one `incident_id` names, else the
    open one with `dedup_key`, else (`or_latest`) the latest with that key, closed or not."""
    of_service = select(Incident).where(col(Incident.service_id) == service_id)
    if incident_id is not None:
        return await _locked(session, of_service.where(col(Incident.id) == incident_id))
    by_key = of_service.where(col(Incident.dedup_key) == dedup_key)
    incident = await _locked(session, by_key.where(col(Incident.status).in_(OPEN_STATUSES)))
    if incident is None and or_latest:
        latest = by_key.order_by(col(Incident.created_at).desc(), col(Incident.id).desc())
        incident = await _locked(session, latest.limit(1))
    return incident


async def _alert(session: AsyncSession, service_id: uuid.UUID, where: Any) -> Alert | None:
    query = select(col(Incident.id), col(Incident.dedup_key)).where(
        col(Incident.service_id) == service_id, where
    )
    row = (await session.execute(query)).first()
    return None if row is None else Alert(id=row.id, dedup_key=row.dedup_key)


async def alert_by_id(
    session: AsyncSession, *, service_id: uuid.UUID, incident_id: uuid.UUID
) -> Alert | None:
    """The service's incident with this id (None: the service has none)."""
    return await _alert(session, service_id, col(Incident.id) == incident_id)


async def alert_by_number(
    session: AsyncSession, *, service_id: uuid.UUID, number: int
) -> Alert | None:
    """The service's incident with this number (None: the service has none)."""
    return await _alert(session, service_id, col(Incident.number) == number)
