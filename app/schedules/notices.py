"""On-call notices: "you are on call from … until …" when a shift starts (and optionally before),
and a daily warning to a schedule's owners when it has nobody on call in the next days: a team's
schedule is its team's managers' (its admins' when the team has no manager), a global one the
admins'.

Each notice is a row in `oncall_notices` whose unique key (kind, schedule, contact method,
occasion) makes it once per shift however many workers plan it at the same time; a row is sent
by whichever worker locks it first (SKIP LOCKED), through the channel's real provider, and
retried like a page when the provider answers with a transient failure.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.config import Settings
from app.models import ContactMethod, CoverageCheck, OncallNotice, Schedule, User
from app.notify.base import Notice, Outcome, Provider, jittered_backoff
from app.notify.notices import notice_page
from app.notify.registry import send_page
from app.schedules.handoffs import Stretch, coverage_gaps, due_handoffs, stretches
from app.schedules.oncall import Calendar, load_calendars, on_call_at, shifts_between
from app.teams.oncall import team_reach

# A shift that began while no worker ran still gets its notice if it began this recently.
HANDOFF_GRACE = timedelta(minutes=15)
# How far ahead a stretch is followed to say when it ends.
STRETCH_HORIZON = timedelta(days=3)
MAX_GAPS_LISTED = 10
SEND_BATCH = 20
DASH = "\N{EN DASH}"

# Where a person's notices go: the contact methods of their immediate rules for low-urgency
# incidents, or every contact method if they have no rules; verified ones only.
_NOTICE_METHODS = text(
    """
SELECT m.user_id, m.id FROM contact_methods m
WHERE m.user_id = ANY(CAST(:user_ids AS uuid[])) AND m.verified_at IS NOT NULL
  AND (NOT EXISTS (SELECT 1 FROM notification_rules r WHERE r.user_id = m.user_id)
       OR EXISTS (SELECT 1 FROM notification_rules r WHERE r.contact_method_id = m.id
                  AND r.delay_seconds = 0 AND (r.urgency IS NULL OR r.urgency = 'low')))
ORDER BY m.created_at
"""
)


def when(moment: datetime, zone: str) -> str:
    """`Wed 02 Dec 09:00` in the person's time zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def handoff_notice(kind: str, schedule: Schedule, stretch: Stretch, zone: str) -> Notice:
    """The words of a handoff or a reminder, in the person's time zone."""
    span = f"{schedule.name} from {when(stretch.start, zone)} until {when(stretch.end, zone)}"
    if kind == "reminder":
        return Notice(
            kind, f"On call soon: {schedule.name}", f"You will be on call for {span} ({zone})."
        )
    return Notice(kind, f"On call: {schedule.name}", f"You are on call for {span} ({zone}).")


def gap_notice(
    gapped: Sequence[tuple[Schedule, Sequence[tuple[datetime, datetime]]]], zone: str
) -> Notice:
    """The words of one coverage-gap warning for all of an owner's schedules with gaps, the gaps
    in the owner's time zone."""
    parts = []
    for schedule, gaps in gapped:
        listed = "; ".join(
            f"{when(a, zone)} {DASH} {when(b, zone)}" for a, b in gaps[:MAX_GAPS_LISTED]
        )
        more = f" and {len(gaps) - MAX_GAPS_LISTED} more" if len(gaps) > MAX_GAPS_LISTED else ""
        parts.append(f"{schedule.name} has nobody on call at: {listed}{more}")
    names = ", ".join(schedule.name for schedule, _ in gapped)
    return Notice("coverage_gap", f"Nobody on call: {names}", f"{'. '.join(parts)} ({zone}).")


async def _methods(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    found: dict[uuid.UUID, list[Any]] = {u: [] for u in user_ids}
    if user_ids:
        for user_id, method_id in await session.execute(
            _NOTICE_METHODS, {"user_ids": list(user_ids)}
        ):
            found[user_id].append(method_id)
    return found


def _stretch_end(calendar: Calendar, stretch: Stretch, horizon: datetime) -> Stretch:
    """A stretch cut by the horizon, with its true end where the calculator can see it."""
    if stretch.end < horizon:
        return stretch
    current = on_call_at(calendar, horizon - timedelta(microseconds=1))
    if current is None or current.user_id != stretch.user_id:
        return stretch
    return Stretch(stretch.user_id, stretch.start, current.end)


async def _insert(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    query = insert(OncallNotice).values(rows).on_conflict_do_nothing()
    result = await session.execute(query.returning(col(OncallNotice.id)))
    return len(result.all())


async def plan_notices(*, session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Write the notices that are due now (each at most once); returns how many are new."""
    schedule_ids = list(await session.scalars(select(col(Schedule.id))))
    rows: list[dict[str, Any]] = []
    if settings.oncall_notices:
        rows += await _handoff_rows(session, settings, schedule_ids, now)
    if settings.coverage_gap_days and now.astimezone(UTC).hour >= settings.coverage_gap_hour_utc:
        rows += await _gap_rows(session, settings, schedule_ids, now)
    return await _insert(session, rows)


async def _handoff_rows(
    session: AsyncSession, settings: Settings, schedule_ids: list[uuid.UUID], now: datetime
) -> list[dict[str, Any]]:
    reminder = timedelta(minutes=settings.oncall_reminder_minutes) or None
    window_start = now - HANDOFF_GRACE
    horizon = now + (reminder or timedelta()) + STRETCH_HORIZON
    calendars = await load_calendars(session, schedule_ids, window_start, horizon)
    due = []
    for calendar in calendars.values():
        joined = stretches(shifts_between(calendar, window_start, horizon))
        for handoff in due_handoffs(joined, window_start=window_start, now=now, reminder=reminder):
            due.append((calendar, handoff.kind, _stretch_end(calendar, handoff.stretch, horizon)))
    users = {u.id: u for u in await _users(session, {s.user_id for _, _, s in due})}
    methods = await _methods(session, set(users))
    rows = []
    for calendar, kind, stretch in due:
        user = users.get(stretch.user_id)
        if user is None:
            continue
        notice = handoff_notice(kind, calendar.schedule, stretch, user.time_zone)
        for method_id in methods[user.id]:
            rows.append(_row(notice, calendar.schedule.id, user.id, method_id, stretch.start, now))
    return rows


async def _gap_rows(
    session: AsyncSession, settings: Settings, schedule_ids: list[uuid.UUID], now: datetime
) -> list[dict[str, Any]]:
    today = now.astimezone(UTC).date()
    if not schedule_ids:
        return []
    claim = (
        insert(CoverageCheck)
        .values(
            [{"schedule_id": sid, "day": today, "checked_at": now} for sid in sorted(schedule_ids)]
        )
        .on_conflict_do_nothing()
        .returning(col(CoverageCheck.schedule_id))
    )
    # Only the worker whose claim lands checks a schedule today (claimed in one order, so two
    # workers claiming at once neither deadlock nor split the day's schedules between them).
    claimed = list((await session.execute(claim)).scalars())
    end = now + timedelta(days=settings.coverage_gap_days)
    calendars = await load_calendars(session, claimed, now, end)
    gapped = []
    for calendar in calendars.values():
        gaps = coverage_gaps(shifts_between(calendar, now, end), now, end)
        if gaps:
            gapped.append((calendar.schedule, gaps))
    owners = await _gap_owners(session, [schedule for schedule, _ in gapped])
    users = {u.id: u for u in await _users(session, {u for ids in owners.values() for u in ids})}
    methods = await _methods(session, set(users))
    day_start = datetime(today.year, today.month, today.day, tzinfo=UTC)
    # One warning per owner, listing the gaps of all the schedules they own (in name order); the
    # row hangs off the first of them, so the day's unique key still holds it to once.
    owned: dict[uuid.UUID, list[tuple[Schedule, list[tuple[datetime, datetime]]]]] = {}
    for schedule, gaps in sorted(gapped, key=lambda g: (g[0].name, str(g[0].id))):
        for user_id in owners[schedule.id]:
            owned.setdefault(user_id, []).append((schedule, gaps))
    rows = []
    for user_id, theirs in owned.items():
        owner = users[user_id]
        notice = gap_notice(theirs, owner.time_zone)
        for method_id in methods[owner.id]:
            rows.append(_row(notice, theirs[0][0].id, owner.id, method_id, day_start, now))
    return rows


async def _gap_owners(
    session: AsyncSession, schedules: list[Schedule]
) -> dict[uuid.UUID, tuple[uuid.UUID, ...]]:
    """Who hears of each schedule's gaps: its team's managers, else (global, or a team without
    a manager) the admins. Admins do not hear of the gaps of teams that have a manager."""
    if not schedules:
        return {}
    teams = await team_reach(session, {s.team_id for s in schedules if s.team_id is not None})
    admins = tuple(await session.scalars(select(col(User.id)).where(col(User.role) == "admin")))
    owners = {}
    for schedule in schedules:
        team = teams.get(schedule.team_id) if schedule.team_id is not None else None
        owners[schedule.id] = team.manager_ids if team is not None and team.manager_ids else admins
    return owners


async def _users(session: AsyncSession, user_ids: set[uuid.UUID]) -> Sequence[User]:
    if not user_ids:
        return []
    return (await session.scalars(select(User).where(col(User.id).in_(user_ids)))).all()


def _row(
    notice: Notice,
    schedule_id: uuid.UUID,
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    occasion_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "kind": notice.kind,
        "schedule_id": schedule_id,
        "user_id": user_id,
        "contact_method_id": method_id,
        "occasion_at": occasion_at,
        "title": notice.title[:300],
        "text": notice.text[:4000],
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "detail": "",
        "created_at": now,
    }


async def send_due_notices(
    *, session: AsyncSession, providers: dict[str, Provider], settings: Settings, now: datetime
) -> int:
    """Send the pending notices that are due (locked, so each goes out through one worker)."""
    query = (
        select(OncallNotice)
        .where(col(OncallNotice.status) == "pending", col(OncallNotice.next_attempt_at) <= now)
        .order_by(col(OncallNotice.next_attempt_at))
        .limit(SEND_BATCH)
        .with_for_update(skip_locked=True)
    )
    notices = list(await session.scalars(query))
    for row in notices:
        method = await session.get(ContactMethod, row.contact_method_id)
        user = await session.get(User, row.user_id)
        if method is None or user is None:
            continue  # deleted meanwhile: the cascade removes the row too
        page = notice_page(
            Notice(row.kind, row.title, row.text),
            channel=method.type,
            address=method.address,
            user={"id": str(user.id), "name": user.name},
            idempotency_key=f"notice:{row.id}",
            signing_secret=method.signing_secret,
        )
        result = await send_page(providers, page)
        row.attempts += 1
        row.detail = result.detail[:300]
        if result.outcome is Outcome.SENT:
            row.status, row.sent_at = "sent", now
        elif result.outcome is Outcome.PERMANENT or row.attempts >= settings.delivery_max_attempts:
            row.status = "failed"
        else:
            delay = jittered_backoff(
                row.attempts,
                base_seconds=settings.delivery_backoff_base_seconds,
                cap_seconds=settings.delivery_backoff_max_seconds,
                retry_after=result.retry_after_seconds,
            )
            row.next_attempt_at = now + timedelta(seconds=delay)
    await session.flush()
    return len(notices)
