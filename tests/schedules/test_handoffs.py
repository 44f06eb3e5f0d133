"""The pure decisions behind on-call notices: joined stretches, due handoffs, coverage gaps."""

import uuid
from datetime import UTC, datetime, timedelta

from app.schedules.handoffs import Stretch, coverage_gaps, due_handoffs, stretches
from app.schedules.oncall import OnCall

T0 = datetime(2027, 3, 27, 12, tzinfo=UTC)
ANA, BEN = uuid.uuid4(), uuid.uuid4()
SCHEDULE = uuid.uuid4()


def shift(user: uuid.UUID, start_h: float, end_h: float, source: str = "layer") -> OnCall:
    return OnCall(
        SCHEDULE,
        user,
        T0 + timedelta(hours=start_h),
        T0 + timedelta(hours=end_h),
        source,
        0 if source == "layer" else None,
        None,
    )


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_a_persons_layer_and_override_shifts_back_to_back_are_one_stretch() -> None:
    joined = stretches([shift(ANA, 0, 8), shift(ANA, 8, 10, "override"), shift(BEN, 10, 20)])
    assert joined == [Stretch(ANA, at(0), at(10)), Stretch(BEN, at(10), at(20))]


def test_only_stretches_beginning_inside_the_window_are_handed_off() -> None:
    joined = [Stretch(ANA, at(0), at(10)), Stretch(BEN, at(10), at(20))]
    # Ana's stretch began at the window's start: it is not new (it was cut there).
    due = due_handoffs(joined, window_start=at(0), now=at(0.1), reminder=None)
    assert due == []
    due = due_handoffs(joined, window_start=at(9.9), now=at(10), reminder=None)
    assert [(d.kind, d.stretch.user_id) for d in due] == [("handoff", BEN)]


def test_a_reminder_is_due_within_its_lead_and_not_after_the_start() -> None:
    joined = [Stretch(BEN, at(10), at(20))]
    lead = timedelta(hours=1)
    assert due_handoffs(joined, window_start=at(8.5), now=at(8.9), reminder=lead) == []
    [due] = due_handoffs(joined, window_start=at(8.9), now=at(9.1), reminder=lead)
    assert due.kind == "reminder"
    [due] = due_handoffs(joined, window_start=at(9.9), now=at(10), reminder=lead)
    assert due.kind == "handoff"


def test_coverage_gaps_are_the_uncovered_parts_of_the_window() -> None:
    shifts = [shift(ANA, 2, 5), shift(BEN, 4, 8), shift(ANA, 10, 12)]
    assert coverage_gaps(shifts, at(0), at(14)) == [
        (at(0), at(2)),
        (at(8), at(10)),
        (at(12), at(14)),
    ]
    assert coverage_gaps([shift(ANA, -1, 15)], at(0), at(14)) == []
    assert coverage_gaps([], at(0), at(1)) == [(at(0), at(1))]
