"""Schedule management: layers inline, overrides, and the on-call queries."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, InvalidInput, NotFound, field_error
from app.models import (
    EscalationTarget,
    Schedule,
    ScheduleLayer,
    ScheduleOverride,
    Team,
    User,
    utcnow,
)
from app.repository import apply_changes, flush_unique, get_or_404
from app.schedules import calculator
from app.schedules.oncall import (
    OnCall,
    layer_of,
    load_calendars,
    on_call_at,
    shifts_between,
    user_names,
)
from app.schedules.schemas import (
    MAX_RENDER_DAYS,
    LayerIn,
    LayerRead,
    OnCallAt,
    OnCallWindow,
    OverrideCreate,
    OverrideRead,
    RestrictionRead,
    ScheduleCreate,
    ScheduleRead,
    ScheduleUpdate,
    ShiftRead,
)
from app.teams.service import check_team


def _invalid(problems: Sequence[str], rename: dict[str, str] | None = None) -> InvalidInput:
    """A 422 from the calculator's "field: message" problems, one detail per field."""
    details = []
    for problem in problems:
        field, _, message = problem.partition(": ")
        for old, new in (rename or {}).items():
            field = field.replace(old, new, 1)
        details.append({"field": field, "message": message})
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return InvalidInput(message, details=details)


def _layer_row(schedule_id: uuid.UUID, position: int, layer: LayerIn) -> ScheduleLayer:
    assert layer.turn_seconds is not None  # LayerIn fills it from the preset
    return ScheduleLayer(
        schedule_id=schedule_id,
        position=position,
        participants=[str(p) for p in layer.participants],
        turn_seconds=layer.turn_seconds,
        start=layer.start,
        restrictions=[
            {
                "kind": r.kind,
                "start": r.start.isoformat(),
                "duration_seconds": r.duration_seconds,
                "start_weekday": r.start_weekday,
            }
            for r in layer.restrictions
        ],
    )


async def _check_layers(session: AsyncSession, time_zone: str, layers: Sequence[LayerIn]) -> None:
    """The calculator's rules (field-named), then every participant must be a user."""
    rows = [_layer_row(uuid.uuid4(), i, layer) for i, layer in enumerate(layers)]
    problems = calculator.validate_schedule(
        calculator.Schedule(time_zone, tuple(layer_of(row) for row in rows))
    )
    if problems:
        raise _invalid(problems)
    wanted = {p for layer in layers for p in layer.participants}
    found = set(await user_names(session, list(wanted)))
    missing = [
        f"layers[{li}].participants[{pi}]: unknown user {p}"
        for li, layer in enumerate(layers)
        for pi, p in enumerate(layer.participants)
        if p not in found
    ]
    if missing:
        raise _invalid(missing)


async def _flush_name(session: AsyncSession, name: str) -> None:
    await flush_unique(session, field="name", message=f"a schedule named {name!r} exists")


def _read(schedule: Schedule, layers: Sequence[ScheduleLayer]) -> ScheduleRead:
    return ScheduleRead(
        id=schedule.id,
        name=schedule.name,
        time_zone=schedule.time_zone,
        description=schedule.description,
        team_id=schedule.team_id,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
        layers=[
            LayerRead(
                participants=[uuid.UUID(p) for p in row.participants],
                turn_seconds=row.turn_seconds,
                start=row.start,
                restrictions=[RestrictionRead.model_validate(r) for r in row.restrictions],
            )
            for row in sorted(layers, key=lambda row: row.position)
        ],
    )


async def _layers(session: AsyncSession, schedule_ids: Sequence[uuid.UUID]) -> list[ScheduleLayer]:
    query = select(ScheduleLayer).where(col(ScheduleLayer.schedule_id).in_(schedule_ids))
    return list((await session.scalars(query.order_by(col(ScheduleLayer.position)))).all())


async def create_schedule(*, session: AsyncSession, data: ScheduleCreate) -> ScheduleRead:
    """Add a schedule with its layers."""
    await _check_layers(session, data.time_zone, data.layers)
    await check_team(session, data.team_id)
    schedule = Schedule(
        name=data.name, time_zone=data.time_zone, description=data.description, team_id=data.team_id
    )
    session.add(schedule)
    await _flush_name(session, data.name)
    session.add_all(_layer_row(schedule.id, i, layer) for i, layer in enumerate(data.layers))
    await session.flush()
    return await read_schedule(session=session, schedule_id=schedule.id)


async def read_schedule(*, session: AsyncSession, schedule_id: uuid.UUID) -> ScheduleRead:
    """A schedule with its layers."""
    schedule = await get_or_404(session, Schedule, schedule_id, what="schedule")
    return _read(schedule, await _layers(session, [schedule_id]))


async def list_schedules(
    *, session: AsyncSession, team_id: uuid.UUID | None = None
) -> list[ScheduleRead]:
    """Every schedule with its layers by name, or only those of one team."""
    query = select(Schedule).order_by(col(Schedule.name))
    if team_id is not None:
        query = query.where(col(Schedule.team_id) == team_id)
    schedules = (await session.scalars(query)).all()
    layers = await _layers(session, [s.id for s in schedules])
    return [_read(s, [row for row in layers if row.schedule_id == s.id]) for s in schedules]


async def update_schedule(
    *, session: AsyncSession, schedule_id: uuid.UUID, data: ScheduleUpdate
) -> ScheduleRead:
    """Change a schedule; levels reached from now on see the change, earlier pages stand."""
    schedule = await get_or_404(session, Schedule, schedule_id, what="schedule", lock=True)
    time_zone = data.time_zone or schedule.time_zone
    if data.layers is not None:
        await _check_layers(session, time_zone, data.layers)
        await session.execute(
            delete(ScheduleLayer).where(col(ScheduleLayer.schedule_id) == schedule_id)
        )
        session.add_all(_layer_row(schedule_id, i, layer) for i, layer in enumerate(data.layers))
    apply_changes(schedule, data.model_dump(exclude_none=True, exclude={"layers", "team_id"}))
    if "team_id" in data.model_fields_set:  # an explicit null makes the schedule global
        await check_team(session, data.team_id)
        schedule.team_id = data.team_id
    schedule.updated_at = utcnow()
    await _flush_name(session, schedule.name)
    return await read_schedule(session=session, schedule_id=schedule_id)


async def delete_schedule(*, session: AsyncSession, schedule_id: uuid.UUID) -> None:
    """Remove a schedule no escalation policy targets."""
    schedule = await get_or_404(session, Schedule, schedule_id, what="schedule")
    used = await session.scalar(
        select(func.count())
        .select_from(EscalationTarget)
        .where(col(EscalationTarget.type) == "schedule")
        .where(col(EscalationTarget.target_id) == schedule_id)
    )
    if used:
        raise Conflict(f"schedule {schedule_id} is a target of {used} escalation level(s)")
    teams = (
        await session.scalars(
            select(col(Team.name)).where(col(Team.oncall_schedule_id) == schedule_id)
        )
    ).all()
    if teams:
        names = ", ".join(teams)
        raise Conflict(f"schedule {schedule_id} is the on-call schedule of team(s) {names}")
    await session.delete(schedule)
    await session.flush()


async def add_override(
    *, session: AsyncSession, schedule_id: uuid.UUID, data: OverrideCreate
) -> ScheduleOverride:
    """Put a user on call from start to end, above every layer and every earlier override."""
    schedule = await get_or_404(session, Schedule, schedule_id, what="schedule", lock=True)
    problems = calculator.validate_schedule(
        calculator.Schedule(
            schedule.time_zone, (), (calculator.Override(str(data.user_id), data.start, data.end),)
        )
    )
    if problems:
        # "overrides[0]: start and end ..." names the pair; "overrides[0].end: ..." the field.
        raise _invalid(problems, {"overrides[0].": "", "overrides[0]": "start"})
    if await session.get(User, data.user_id) is None:
        raise field_error("user_id", f"unknown user {data.user_id}")
    override = ScheduleOverride(
        schedule_id=schedule_id, user_id=data.user_id, start=data.start, end=data.end
    )
    session.add(override)
    await session.flush()
    return override


async def list_overrides(
    *, session: AsyncSession, schedule_id: uuid.UUID, since: datetime | None
) -> list[ScheduleOverride]:
    """The schedule's overrides (those ending after `since`, when given), by start."""
    await get_or_404(session, Schedule, schedule_id, what="schedule")
    query = select(ScheduleOverride).where(col(ScheduleOverride.schedule_id) == schedule_id)
    if since is not None:
        query = query.where(col(ScheduleOverride.end) > since)
    query = query.order_by(col(ScheduleOverride.start), col(ScheduleOverride.created_at))
    return list((await session.scalars(query)).all())


async def delete_override(
    *, session: AsyncSession, schedule_id: uuid.UUID, override_id: uuid.UUID
) -> None:
    """Remove an override; the layers (or older overrides) apply again."""
    override = await session.get(ScheduleOverride, override_id)
    if override is None or override.schedule_id != schedule_id:
        raise NotFound(f"override {override_id} not found")
    await session.delete(override)
    await session.flush()


def override_read(override: ScheduleOverride) -> OverrideRead:
    """The API view of an override."""
    return OverrideRead.model_validate(override, from_attributes=True)


async def _shift_reads(session: AsyncSession, shifts: Sequence[OnCall]) -> list[ShiftRead]:
    names = await user_names(session, [s.user_id for s in shifts])
    return [
        ShiftRead(
            user_id=s.user_id,
            user_name=names.get(s.user_id),
            start=s.start,
            end=s.end,
            source="override" if s.source == "override" else "layer",
            layer=s.layer,
            override_id=s.override_id,
        )
        for s in shifts
    ]


async def who_is_on_call(
    *, session: AsyncSession, schedule_id: uuid.UUID, at: datetime
) -> OnCallAt:
    """The person on call at `at`, with their whole shift, or nobody."""
    calendars = await load_calendars(session, [schedule_id], at, at)
    if schedule_id not in calendars:
        raise NotFound(f"schedule {schedule_id} not found")
    current = on_call_at(calendars[schedule_id], at)
    reads = await _shift_reads(session, [current] if current else [])
    return OnCallAt(schedule_id=schedule_id, at=at, on_call=reads[0] if reads else None)


async def on_call_between(
    *, session: AsyncSession, schedule_id: uuid.UUID, start: datetime, until: datetime
) -> OnCallWindow:
    """The final shifts in [start, until), at most MAX_RENDER_DAYS long."""
    if until <= start:
        raise field_error("until", "must be after from")
    if until - start > timedelta(days=MAX_RENDER_DAYS):
        raise field_error("until", f"the window may span at most {MAX_RENDER_DAYS} days")
    calendars = await load_calendars(session, [schedule_id], start, until)
    if schedule_id not in calendars:
        raise NotFound(f"schedule {schedule_id} not found")
    shifts = shifts_between(calendars[schedule_id], start, until)
    return OnCallWindow(
        schedule_id=schedule_id,
        start=start,
        until=until,
        shifts=await _shift_reads(session, shifts),
    )
