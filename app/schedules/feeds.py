"""iCalendar feeds of on-call shifts at secret-token URLs: a person's shifts, a schedule's shifts.

The token is the only credential (calendar apps cannot send headers); it is stored hashed, shown
once, and rotating it makes the old URL stop working. Events are the same final shifts as
`GET /api/v1/schedules/{id}/oncall` (layers and overrides), written in the schedule's time zone
with its VTIMEZONE, so a shift across a DST change shows at the right local hour.
"""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import CalendarFeed, Schedule, User
from app.repository import get_or_404
from app.schedules.oncall import Calendar, OnCall, load_calendars, on_call_at, shifts_between
from app.schedules.oncall import user_names as load_user_names
from app.security import hash_key, new_secret

PATH = "/calendars/"
PRODID = "-//Stairway//On-call shifts//EN"


def feed_url(public_url: str, token: str) -> str:
    """Where a calendar app subscribes to a feed."""
    return f"{public_url.rstrip('/')}{PATH}{token}.ics"


async def rotate_feed(
    *, session: AsyncSession, user_id: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None
) -> str:
    """A new token for the user's or the schedule's feed (the old one stops working)."""
    if user_id is not None:
        await get_or_404(session, User, user_id, what="user")
        owner = col(CalendarFeed.user_id) == user_id
    else:
        assert schedule_id is not None
        await get_or_404(session, Schedule, schedule_id, what="schedule")
        owner = col(CalendarFeed.schedule_id) == schedule_id
    await session.execute(delete(CalendarFeed).where(owner))
    token = "cal_" + new_secret()
    session.add(CalendarFeed(user_id=user_id, schedule_id=schedule_id, token_hash=hash_key(token)))
    await session.flush()
    return token


async def delete_feed(
    *, session: AsyncSession, user_id: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None
) -> None:
    """Turn a feed off: its URL stops working."""
    if user_id is not None:
        owner = col(CalendarFeed.user_id) == user_id
    else:
        owner = col(CalendarFeed.schedule_id) == schedule_id
    await session.execute(delete(CalendarFeed).where(owner))


async def has_feed(*, session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the user's shifts are published (the URL itself is shown only when made)."""
    query = select(col(CalendarFeed.id)).where(col(CalendarFeed.user_id) == user_id)
    return (await session.scalar(query)) is not None


async def feed_for_token(*, session: AsyncSession, token: str) -> CalendarFeed | None:
    """The feed a URL's token opens, or None."""
    query = select(CalendarFeed).where(col(CalendarFeed.token_hash) == hash_key(token))
    return (await session.scalars(query)).first()


def _whole(
    calendar: Calendar, shifts: list[OnCall], start: datetime, end: datetime
) -> list[OnCall]:
    """Shifts cut by the window's edges get their true bounds, so each keeps one stable UID."""
    if shifts and shifts[0].start == start:
        first = on_call_at(calendar, start)
        if first is not None and first.user_id == shifts[0].user_id:
            shifts[0] = replace(shifts[0], start=first.start)
    if shifts and shifts[-1].end == end:
        last = on_call_at(calendar, end - timedelta(microseconds=1))
        if last is not None and last.user_id == shifts[-1].user_id:
            shifts[-1] = replace(shifts[-1], end=last.end)
    return shifts


def _event(shift: OnCall, *, calendar: Calendar, summary: str, now: datetime) -> icalendar.Event:
    zone = ZoneInfo(calendar.schedule.time_zone)
    event = icalendar.Event()
    event.add("uid", f"{shift.schedule_id}-{shift.user_id}-{int(shift.start.timestamp())}@stairway")
    event.add("dtstamp", now)
    event.add("dtstart", shift.start.astimezone(zone))
    event.add("dtend", shift.end.astimezone(zone))
    event.add("summary", summary)
    source = "override" if shift.source == "override" else f"layer {shift.layer}"
    event.add("description", f"On call for {calendar.schedule.name} ({source}).")
    event.add("transp", "TRANSPARENT")  # on call is not busy: meetings can still be booked
    return event


def render_ics(
    name: str,
    events: Sequence[icalendar.Event],
    *,
    first: datetime,
    last: datetime,
) -> bytes:
    """A VCALENDAR with the events and the VTIMEZONE of every zone they use."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(event)
    cal.add_missing_timezones(first_date=first.date(), last_date=last.date())
    return bytes(cal.to_ical())


async def render_feed(
    *, session: AsyncSession, feed: CalendarFeed, now: datetime, past_days: int, future_days: int
) -> bytes:
    """The feed's shifts from `past_days` ago to `future_days` ahead, as iCalendar."""
    start = now - timedelta(days=past_days)
    end = now + timedelta(days=future_days)
    if feed.schedule_id is not None:
        schedule_ids: list[uuid.UUID] = [feed.schedule_id]
    else:
        schedule_ids = list(await session.scalars(select(col(Schedule.id))))
    calendars = await load_calendars(session, schedule_ids, start, end)
    picked: list[tuple[Calendar, OnCall]] = []
    for calendar in calendars.values():
        shifts = _whole(calendar, shifts_between(calendar, start, end), start, end)
        picked += [(calendar, s) for s in shifts if feed.user_id in (None, s.user_id)]
    names = await load_user_names(session, sorted({s.user_id for _, s in picked}))
    events = []
    for calendar, shift in sorted(picked, key=lambda p: (p[1].start, p[0].schedule.name)):
        if feed.user_id is not None:
            summary = f"On call: {calendar.schedule.name}"
        else:
            summary = f"{names.get(shift.user_id, 'deleted user')} on call"
        events.append(_event(shift, calendar=calendar, summary=summary, now=now))
    if feed.schedule_id is not None:
        title = f"{calendars[feed.schedule_id].schedule.name} on call" if calendars else "on call"
    else:
        user = await session.get(User, feed.user_id)
        title = f"{user.name}: on-call shifts" if user is not None else "On-call shifts"
    earliest = min((s.start for _, s in picked), default=start)
    latest = max((s.end for _, s in picked), default=end)
    return render_ics(title, events, first=earliest, last=latest)
