"""Stored schedules as calculator inputs, and who is on call when (reads only)."""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import Schedule, ScheduleLayer, ScheduleOverride, User
from app.schedules import calculator
from app.schedules.calculator import MAX_HORIZON


@dataclass(frozen=True)
class Calendar:
    """A schedule ready for the calculator, with the override ids behind "override:N"."""

    schedule: Schedule
    layers: tuple[ScheduleLayer, ...]
    rules: calculator.Schedule
    override_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class OnCall:
    """Who a schedule puts on call at an instant, and which layer or override did."""

    schedule_id: uuid.UUID
    user_id: uuid.UUID
    start: datetime
    end: datetime
    source: str  # "layer" or "override"
    layer: int | None
    override_id: uuid.UUID | None

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to timelines and previews."""
        return {
            "schedule_id": str(self.schedule_id),
            "user_id": str(self.user_id),
            "source": self.source,
            "layer": self.layer,
            "override_id": str(self.override_id) if self.override_id else None,
            "shift_start": self.start.isoformat(),
            "shift_end": self.end.isoformat(),
        }


def restriction_of(data: dict[str, Any]) -> calculator.Restriction:
    """A stored restriction (JSON) as the calculator's value."""
    return calculator.Restriction(
        kind=data["kind"],
        start=time.fromisoformat(data["start"]),
        duration_seconds=int(data["duration_seconds"]),
        start_weekday=data.get("start_weekday"),
    )


def layer_of(row: ScheduleLayer) -> calculator.Layer:
    """A stored layer as the calculator's value."""
    return calculator.Layer(
        participants=tuple(row.participants),
        turn_seconds=row.turn_seconds,
        start=row.start,
        restrictions=tuple(restriction_of(r) for r in row.restrictions),
    )


def calendar_of(
    schedule: Schedule, layers: Iterable[ScheduleLayer], overrides: Iterable[ScheduleOverride]
) -> Calendar:
    """Layers in position order (higher wins); overrides oldest first (the newest wins)."""
    ordered = tuple(sorted(layers, key=lambda row: row.position))
    kept = sorted(overrides, key=lambda row: (row.created_at, str(row.id)))
    rules = calculator.Schedule(
        time_zone=schedule.time_zone,
        layers=tuple(layer_of(row) for row in ordered),
        overrides=tuple(calculator.Override(str(o.user_id), o.start, o.end) for o in kept),
    )
    return Calendar(schedule, ordered, rules, tuple(o.id for o in kept))


async def load_calendars(
    session: AsyncSession, schedule_ids: Iterable[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, Calendar]:
    """The schedules that exist, with every override that can matter for [start, end)."""
    ids = set(schedule_ids)
    if not ids:
        return {}
    schedules = (await session.scalars(select(Schedule).where(col(Schedule.id).in_(ids)))).all()
    layers: dict[uuid.UUID, list[ScheduleLayer]] = defaultdict(list)
    query = select(ScheduleLayer).where(col(ScheduleLayer.schedule_id).in_(ids))
    for layer in await session.scalars(query):
        layers[layer.schedule_id].append(layer)
    overrides: dict[uuid.UUID, list[ScheduleOverride]] = defaultdict(list)
    # The calculator looks at most MAX_HORIZON around its window for a shift's true bounds.
    query_overrides = select(ScheduleOverride).where(
        col(ScheduleOverride.schedule_id).in_(ids),
        col(ScheduleOverride.end) > start - MAX_HORIZON,
        col(ScheduleOverride.start) < end + MAX_HORIZON,
    )
    for override in await session.scalars(query_overrides):
        overrides[override.schedule_id].append(override)
    return {s.id: calendar_of(s, layers[s.id], overrides[s.id]) for s in schedules}


def _on_call(calendar: Calendar, shift: calculator.Shift) -> OnCall:
    kind, _, index = shift.source.partition(":")
    position = int(index)
    return OnCall(
        schedule_id=calendar.schedule.id,
        user_id=uuid.UUID(shift.user_id),
        start=shift.start,
        end=shift.end,
        source=kind,
        layer=position if kind == "layer" else None,
        override_id=calendar.override_ids[position] if kind == "override" else None,
    )


def on_call_at(calendar: Calendar, at: datetime) -> OnCall | None:
    """Who is on call at `at` (with their whole shift), or None."""
    shift = calculator.on_call_at(calendar.rules, at)
    return None if shift is None else _on_call(calendar, shift)


def shifts_between(calendar: Calendar, start: datetime, end: datetime) -> list[OnCall]:
    """The final shifts in [start, end), clipped to it."""
    return [_on_call(calendar, s) for s in calculator.render(calendar.rules, start, end)]


async def resolve_on_call(
    session: AsyncSession, schedule_ids: Iterable[uuid.UUID], at: datetime
) -> dict[uuid.UUID, OnCall | None]:
    """For each schedule that exists: who is on call at `at` (None: nobody)."""
    calendars = await load_calendars(session, schedule_ids, at, at)
    return {sid: on_call_at(calendar, at) for sid, calendar in calendars.items()}


async def user_names(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Names of the users that exist among `user_ids`."""
    if not user_ids:
        return {}
    query = select(col(User.id), col(User.name)).where(col(User.id).in_(set(user_ids)))
    return {uid: name for uid, name in await session.execute(query)}


@dataclass(frozen=True)
class Outlook:
    """A schedule seen from an instant: who is on call, who takes over, every shift until then."""

    schedule_id: uuid.UUID
    current: OnCall | None
    following: OnCall | None
    shifts: tuple[OnCall, ...]


def outlook_of(calendar: Calendar, at: datetime, until: datetime) -> Outlook:
    """The shift containing `at` (whole), the one after it, and the shifts in [at, until)."""
    upcoming = [_on_call(calendar, s) for s in calculator.next_shifts(calendar.rules, at, 2)]
    current = upcoming[0] if upcoming and upcoming[0].start <= at else None
    later = upcoming[1:] if current is not None else upcoming
    return Outlook(
        schedule_id=calendar.schedule.id,
        current=current,
        following=later[0] if later else None,
        shifts=tuple(shifts_between(calendar, at, until)),
    )


async def outlooks(
    session: AsyncSession, schedule_ids: Iterable[uuid.UUID], at: datetime, until: datetime
) -> dict[uuid.UUID, Outlook]:
    """For each schedule that exists: on call now, next, and the shifts in [at, until)."""
    calendars = await load_calendars(session, schedule_ids, at, until)
    return {sid: outlook_of(calendar, at, until) for sid, calendar in calendars.items()}
