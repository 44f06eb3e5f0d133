"""HTTP routes for schedules, their overrides and who is on call."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from app.auth import Observer
from app.db import SessionDep
from app.errors import field_error
from app.models import Schedule, utcnow
from app.schedules import feeds, service
from app.schedules.schemas import (
    CalendarFeedCreated,
    OnCallAt,
    OnCallWindow,
    OverrideCreate,
    OverrideRead,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
)
from app.teams import access
from app.teams.access import Creator, ScheduleManager

router = APIRouter(prefix="/schedules", tags=["schedules"])

Instant = Annotated[AwareDatetime | None, Query()]


@router.post("", status_code=201)
async def create_schedule(
    data: ScheduleCreate, session: SessionDep, principal: Creator
) -> ScheduleRead:
    await access.check_manages(session, principal, data.team_id)
    return await service.create_schedule(session=session, data=data)


@router.get("")
async def list_schedules(
    session: SessionDep, _: Observer, team_id: uuid.UUID | None = None
) -> dict[str, list[ScheduleRead]]:
    return {"items": await service.list_schedules(session=session, team_id=team_id)}


@router.get("/{schedule_id}")
async def get_schedule(schedule_id: uuid.UUID, session: SessionDep, _: Observer) -> ScheduleRead:
    return await service.read_schedule(session=session, schedule_id=schedule_id)


@router.patch("/{schedule_id}")
async def update_schedule(
    schedule_id: uuid.UUID, data: ScheduleUpdate, session: SessionDep, principal: ScheduleManager
) -> ScheduleRead:
    current = await session.get(Schedule, schedule_id)
    changes = data.model_dump(exclude_unset=True)
    await access.check_move(session, principal, changes, current.team_id if current else None)
    return await service.update_schedule(session=session, schedule_id=schedule_id, data=data)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: uuid.UUID, session: SessionDep, _: ScheduleManager) -> None:
    await service.delete_schedule(session=session, schedule_id=schedule_id)


@router.post("/{schedule_id}/overrides", status_code=201)
async def add_override(
    schedule_id: uuid.UUID, data: OverrideCreate, session: SessionDep, _: ScheduleManager
) -> OverrideRead:
    override = await service.add_override(session=session, schedule_id=schedule_id, data=data)
    return service.override_read(override)


@router.get("/{schedule_id}/overrides")
async def list_overrides(
    schedule_id: uuid.UUID, session: SessionDep, _: Observer, since: Instant = None
) -> dict[str, list[OverrideRead]]:
    """Every override of the schedule, or only those still running after `since`."""
    rows = await service.list_overrides(session=session, schedule_id=schedule_id, since=since)
    return {"items": [service.override_read(row) for row in rows]}


@router.delete("/{schedule_id}/overrides/{override_id}", status_code=204)
async def delete_override(
    schedule_id: uuid.UUID, override_id: uuid.UUID, session: SessionDep, _: ScheduleManager
) -> None:
    await service.delete_override(session=session, schedule_id=schedule_id, override_id=override_id)


@router.post("/{schedule_id}/calendar-feed", status_code=201)
async def rotate_calendar_feed(
    schedule_id: uuid.UUID, request: Request, session: SessionDep, _: ScheduleManager
) -> CalendarFeedCreated:
    """A new secret URL for the schedule's iCalendar feed; the previous URL stops working."""
    token = await feeds.rotate_feed(session=session, schedule_id=schedule_id)
    return CalendarFeedCreated(url=feeds.feed_url(request.app.state.settings.public_url, token))


@router.delete("/{schedule_id}/calendar-feed", status_code=204)
async def delete_calendar_feed(
    schedule_id: uuid.UUID, session: SessionDep, _: ScheduleManager
) -> None:
    """Turn the schedule's feed off."""
    await feeds.delete_feed(session=session, schedule_id=schedule_id)


@router.get("/{schedule_id}/oncall")
async def on_call(
    schedule_id: uuid.UUID,
    session: SessionDep,
    _: Observer,
    at: Instant = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Instant = None,
) -> OnCallAt | OnCallWindow:
    """`?at=T` (default now): who is on call; `?from=&until=` (or `?at=&until=`): the shifts."""
    if start is not None and at is not None:
        raise field_error("from", "give either at or from, not both")
    if until is None:
        if start is not None:
            raise field_error("until", "required with from")
        return await service.who_is_on_call(
            session=session, schedule_id=schedule_id, at=at or utcnow()
        )
    return await service.on_call_between(
        session=session, schedule_id=schedule_id, start=start or at or utcnow(), until=until
    )
