"""A schedule's outlook from an instant (what /oncall shows): on call now, next, and the shifts."""

import uuid
from datetime import UTC, datetime, timedelta

from app.models import Schedule, ScheduleLayer, ScheduleOverride
from app.schedules.oncall import Calendar, calendar_of, outlook_of

ADA, BOB, CAROL = (str(uuid.uuid4()) for _ in range(3))
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY = timedelta(days=1)


def _calendar(
    participants: list[str], start: datetime, overrides: tuple[ScheduleOverride, ...] = ()
) -> Calendar:
    schedule = Schedule(id=uuid.uuid4(), name="primary", time_zone="UTC")
    layer = ScheduleLayer(
        schedule_id=schedule.id,
        position=0,
        participants=participants,
        turn_seconds=86_400,
        start=start,
        restrictions=[],
    )
    return calendar_of(schedule, [layer] if participants else [], overrides)


def test_now_is_the_whole_current_shift_and_next_is_the_one_after() -> None:
    calendar = _calendar([ADA, BOB], START)
    at = START + timedelta(days=2, hours=5)
    outlook = outlook_of(calendar, at, at + 3 * DAY)
    assert outlook.current is not None
    assert outlook.following is not None
    assert (str(outlook.current.user_id), outlook.current.start) == (ADA, START + 2 * DAY)
    assert (str(outlook.following.user_id), outlook.following.start) == (BOB, START + 3 * DAY)
    # The window's shifts start at `at` (clipped) and cover it without gaps.
    assert [str(s.user_id) for s in outlook.shifts] == [ADA, BOB, ADA, BOB]
    assert outlook.shifts[0].start == at
    assert outlook.shifts[-1].end == at + 3 * DAY


def test_nobody_now_and_the_first_shift_later_is_next() -> None:
    calendar = _calendar([ADA, BOB], START)
    at = START - timedelta(hours=3)
    outlook = outlook_of(calendar, at, at + DAY)
    assert outlook.current is None
    assert outlook.following is not None
    assert (str(outlook.following.user_id), outlook.following.start) == (ADA, START)


def test_an_override_in_progress_is_now() -> None:
    override = ScheduleOverride(
        id=uuid.uuid4(),
        schedule_id=uuid.uuid4(),
        user_id=uuid.UUID(CAROL),
        start=START + timedelta(hours=2),
        end=START + timedelta(hours=6),
        created_at=START,
    )
    calendar = _calendar([ADA, BOB], START, (override,))
    outlook = outlook_of(calendar, START + timedelta(hours=3), START + DAY)
    assert outlook.current is not None
    assert outlook.following is not None
    assert (str(outlook.current.user_id), outlook.current.source) == (CAROL, "override")
    assert outlook.current.end == START + timedelta(hours=6)
    # After the override, the layer's turn (Ada's) resumes until the daily handoff.
    assert (str(outlook.following.user_id), outlook.following.end) == (ADA, START + DAY)


def test_an_empty_schedule_has_nobody_now_or_next() -> None:
    calendar = _calendar([], START)
    outlook = outlook_of(calendar, START, START + DAY)
    assert (outlook.current, outlook.following, outlook.shifts) == (None, None, ())
