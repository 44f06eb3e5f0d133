"""Tests for the pure on-call schedule calculator: table tests and hypothesis properties."""

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.schedules.calculator import (
    DAY_SECONDS,
    MAX_HORIZON,
    WEEK_SECONDS,
    Layer,
    Override,
    Restriction,
    Schedule,
    Shift,
    next_shifts,
    on_call_at,
    render,
    validate_schedule,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def spans(shifts: Iterable[Shift]) -> list[tuple[str, datetime, datetime, str]]:
    return [(s.user_id, s.start, s.end, s.source) for s in shifts]


def business_hours() -> tuple[Restriction, ...]:
    return tuple(Restriction("weekly", time(9), 8 * 3600, day) for day in range(5))


# --- table tests -------------------------------------------------------------------------------


def test_weekly_rotation_hands_off_every_week_in_participant_order() -> None:
    layer = Layer(("ana", "ben", "cy"), WEEK_SECONDS, utc(2026, 1, 5, 9))
    shifts = render(Schedule("UTC", (layer,)), utc(2026, 1, 1), utc(2026, 2, 2, 9))
    assert spans(shifts) == [
        ("ana", utc(2026, 1, 5, 9), utc(2026, 1, 12, 9), "layer:0"),
        ("ben", utc(2026, 1, 12, 9), utc(2026, 1, 19, 9), "layer:0"),
        ("cy", utc(2026, 1, 19, 9), utc(2026, 1, 26, 9), "layer:0"),
        ("ana", utc(2026, 1, 26, 9), utc(2026, 2, 2, 9), "layer:0"),
    ]


def test_far_window_uses_turn_arithmetic_and_keeps_the_order() -> None:
    layer = Layer(("ana", "ben", "cy"), WEEK_SECONDS, utc(2020, 1, 6, 9))
    shifts = render(Schedule("UTC", (layer,)), utc(2026, 1, 5, 9), utc(2026, 1, 12, 9))
    # 313 weeks after the start: 313 % 3 == 1, so it is ben's turn.
    assert spans(shifts) == [("ben", utc(2026, 1, 5, 9), utc(2026, 1, 12, 9), "layer:0")]


def test_override_wins_exactly_in_its_window() -> None:
    layer = Layer(("ana", "ben"), DAY_SECONDS, utc(2026, 1, 5, 9))
    override = Override("zoe", utc(2026, 1, 5, 13), utc(2026, 1, 6, 11))
    shifts = render(Schedule("UTC", (layer,), (override,)), utc(2026, 1, 5, 9), utc(2026, 1, 7))
    assert spans(shifts) == [
        ("ana", utc(2026, 1, 5, 9), utc(2026, 1, 5, 13), "layer:0"),
        ("zoe", utc(2026, 1, 5, 13), utc(2026, 1, 6, 11), "override:0"),
        ("ben", utc(2026, 1, 6, 11), utc(2026, 1, 7), "layer:0"),
    ]


def test_later_override_beats_earlier_one_where_they_overlap() -> None:
    overrides = (
        Override("zoe", utc(2026, 1, 5, 10), utc(2026, 1, 5, 14)),
        Override("yan", utc(2026, 1, 5, 12), utc(2026, 1, 5, 13)),
    )
    shifts = render(Schedule("UTC", (), overrides), utc(2026, 1, 5), utc(2026, 1, 6))
    assert spans(shifts) == [
        ("zoe", utc(2026, 1, 5, 10), utc(2026, 1, 5, 12), "override:0"),
        ("yan", utc(2026, 1, 5, 12), utc(2026, 1, 5, 13), "override:1"),
        ("zoe", utc(2026, 1, 5, 13), utc(2026, 1, 5, 14), "override:0"),
    ]


def test_same_user_from_different_sources_is_not_merged() -> None:
    layer = Layer(("ana",), DAY_SECONDS, utc(2026, 1, 5))
    override = Override("ana", utc(2026, 1, 5, 6), utc(2026, 1, 5, 8))
    shifts = render(Schedule("UTC", (layer,), (override,)), utc(2026, 1, 5), utc(2026, 1, 5, 12))
    assert [s.source for s in shifts] == ["layer:0", "override:0", "layer:0"]


def test_higher_layer_wins_where_it_has_someone_and_lower_shows_through_gaps() -> None:
    backstop = Layer(("ana",), WEEK_SECONDS, utc(2026, 1, 5))
    daytime = Layer(("ben", "cy"), DAY_SECONDS, utc(2026, 1, 5, 9), business_hours())
    schedule = Schedule("Europe/London", (backstop, daytime))
    shifts = render(schedule, utc(2026, 1, 5), utc(2026, 1, 7))
    assert spans(shifts) == [
        ("ana", utc(2026, 1, 5), utc(2026, 1, 5, 9), "layer:0"),
        ("ben", utc(2026, 1, 5, 9), utc(2026, 1, 5, 17), "layer:1"),
        ("ana", utc(2026, 1, 5, 17), utc(2026, 1, 6, 9), "layer:0"),
        ("cy", utc(2026, 1, 6, 9), utc(2026, 1, 6, 17), "layer:1"),
        ("ana", utc(2026, 1, 6, 17), utc(2026, 1, 7), "layer:0"),
    ]


def test_business_hours_restriction_leaves_evenings_and_weekend_empty() -> None:
    layer = Layer(("ana", "ben"), WEEK_SECONDS, utc(2026, 1, 5), business_hours())
    schedule = Schedule("America/New_York", (layer,))
    shifts = render(schedule, utc(2026, 1, 5), utc(2026, 1, 12))
    # 09:00-17:00 EST is 14:00-22:00 UTC, Monday 5 to Friday 9 January.
    assert spans(shifts) == [
        ("ana", utc(2026, 1, day, 14), utc(2026, 1, day, 22), "layer:0") for day in range(5, 10)
    ]
    assert on_call_at(schedule, utc(2026, 1, 10, 15)) is None


def test_nightly_restriction_ends_at_local_wall_clock_across_dst() -> None:
    layer = Layer(
        ("ana",), DAY_SECONDS, utc(2026, 3, 1), (Restriction("daily", time(22), 8 * 3600),)
    )
    shifts = render(Schedule("Europe/London", (layer,)), utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    # 22:00 GMT to 06:00 BST is only 7 elapsed hours.
    assert spans(shifts) == [("ana", utc(2026, 3, 28, 22), utc(2026, 3, 29, 5), "layer:0")]


@pytest.mark.parametrize(
    ("zone", "first_start", "expected_handoffs"),
    [
        # Last Sunday of March 2026: GMT -> BST.
        (
            "Europe/London",
            utc(2026, 3, 27, 9),
            [utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)],
        ),
        # Last Sunday of October 2026: BST -> GMT.
        (
            "Europe/London",
            utc(2026, 10, 23, 8),
            [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)],
        ),
        # Second Sunday of March 2026: EST -> EDT.
        (
            "America/New_York",
            utc(2026, 3, 6, 14),
            [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)],
        ),
        # First Sunday of November 2026: EDT -> EST.
        (
            "America/New_York",
            utc(2026, 10, 30, 13),
            [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)],
        ),
    ],
)
def test_daily_handoff_stays_at_0900_local_across_dst(
    zone: str, first_start: datetime, expected_handoffs: list[datetime]
) -> None:
    layer = Layer(("ana", "ben"), DAY_SECONDS, first_start)
    shifts = render(Schedule(zone, (layer,)), first_start, expected_handoffs[-1])
    assert [s.end for s in shifts] == expected_handoffs
    assert {s.end.astimezone(ZoneInfo(zone)).time() for s in shifts} == {time(9)}


def test_weekly_handoff_keeps_local_time_across_dst() -> None:
    layer = Layer(("ana", "ben"), WEEK_SECONDS, utc(2026, 3, 2, 14))  # Monday 09:00 EST
    shifts = render(Schedule("America/New_York", (layer,)), utc(2026, 3, 2), utc(2026, 3, 17))
    assert [s.start for s in shifts] == [
        utc(2026, 3, 2, 14),
        utc(2026, 3, 9, 13),
        utc(2026, 3, 16, 13),
    ]


def test_daily_handoff_at_a_skipped_or_repeated_local_time() -> None:
    layer = Layer(("ana", "ben"), DAY_SECONDS, utc(2026, 3, 27, 1, 30))  # 01:30 GMT
    schedule = Schedule("Europe/London", (layer,))
    # 01:30 does not exist on 29 March: the handoff moves forward by the gap (02:30 BST).
    assert [s.end for s in render(schedule, utc(2026, 3, 27, 1, 30), utc(2026, 3, 30, 0, 30))] == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30),
    ]
    # 01:30 happens twice on 25 October: the handoff is at the first one (01:30 BST).
    assert [s.end for s in render(schedule, utc(2026, 10, 24), utc(2026, 10, 26, 1, 30))] == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def test_window_starting_in_the_skipped_or_repeated_hour_finds_the_right_turn() -> None:
    layer = Layer(("ana", "ben"), DAY_SECONDS, utc(2026, 3, 27, 1, 30))  # 01:30 GMT, ana first
    schedule = Schedule("Europe/London", (layer,))
    # 02:00 BST on 29 March is before the moved 02:30 BST handoff: still ben's 28 March turn.
    assert spans(render(schedule, utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))) == [
        ("ben", utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30), "layer:0"),
        ("ana", utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2), "layer:0"),
    ]
    # The second 01:15 on 25 October (GMT) comes after that day's 01:30 BST handoff.
    assert spans(render(schedule, utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 2))) == [
        ("ana", utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 2), "layer:0"),
    ]


def test_eight_hour_turns_are_eight_elapsed_hours_across_dst() -> None:
    layer = Layer(("ana", "ben", "cy"), 8 * 3600, utc(2026, 3, 28, 22))
    shifts = render(Schedule("Europe/London", (layer,)), utc(2026, 3, 28, 22), utc(2026, 3, 30, 6))
    assert [s.start for s in shifts] == [
        utc(2026, 3, 28, 22) + timedelta(hours=8 * i) for i in range(4)
    ]
    assert {s.end - s.start for s in shifts} == {timedelta(hours=8)}


def test_nobody_before_the_layer_start() -> None:
    schedule = Schedule("UTC", (Layer(("ana",), DAY_SECONDS, utc(2026, 1, 5)),))
    assert on_call_at(schedule, utc(2026, 1, 4, 23, 59)) is None
    assert render(schedule, utc(2026, 1, 1), utc(2026, 1, 5)) == []


def test_on_call_at_reports_full_shift_bounds() -> None:
    layer = Layer(("ana", "ben"), WEEK_SECONDS, utc(2026, 1, 5, 9))
    shift = on_call_at(Schedule("UTC", (layer,)), utc(2026, 1, 14, 3))
    assert shift == Shift("ben", utc(2026, 1, 12, 9), utc(2026, 1, 19, 9), "layer:0")


def test_next_shifts_starts_with_the_current_shift() -> None:
    layer = Layer(("ana", "ben", "cy"), DAY_SECONDS, utc(2026, 1, 5, 9))
    shifts = next_shifts(Schedule("UTC", (layer,)), utc(2026, 1, 6, 12), 3)
    assert spans(shifts) == [
        ("ben", utc(2026, 1, 6, 9), utc(2026, 1, 7, 9), "layer:0"),
        ("cy", utc(2026, 1, 7, 9), utc(2026, 1, 8, 9), "layer:0"),
        ("ana", utc(2026, 1, 8, 9), utc(2026, 1, 9, 9), "layer:0"),
    ]


def test_next_shifts_stops_at_the_horizon() -> None:
    at = utc(2026, 1, 1)
    assert next_shifts(Schedule("UTC", ()), at, 5) == []
    forever = Schedule("UTC", (Layer(("ana",), DAY_SECONDS, utc(2025, 1, 1)),))
    assert spans(next_shifts(forever, at, 5)) == [
        ("ana", utc(2025, 1, 1), at + MAX_HORIZON, "layer:0")
    ]
    assert next_shifts(forever, at, 0) == []


def test_validate_schedule_lists_every_problem() -> None:
    schedule = Schedule(
        "Mars/Olympus_Mons",
        (
            Layer((), 0, datetime(2026, 1, 1)),
            Layer(
                ("ana",),
                3600,
                utc(2026, 1, 1),
                (
                    Restriction("daily", time(9), DAY_SECONDS + 1),
                    Restriction("weekly", time(9), 3600, 7),
                    Restriction("weekly", time(9), 0, 1),
                ),
            ),
        ),
        (Override("zoe", utc(2026, 1, 2), utc(2026, 1, 2)),),
    )
    assert validate_schedule(schedule) == [
        "time_zone: unknown IANA time zone 'Mars/Olympus_Mons'",
        "layers[0].participants: must not be empty",
        "layers[0].turn_seconds: must be > 0, got 0",
        "layers[0].start: must be timezone-aware",
        "layers[1].restrictions[0].duration_seconds: must be in 1..86400 for a daily restriction, "
        "got 86401",
        "layers[1].restrictions[1].start_weekday: must be 0 (Monday)..6, got 7",
        "layers[1].restrictions[2].duration_seconds: must be in 1..604800 for a weekly "
        "restriction, got 0",
        "overrides[0].end: must be after start",
    ]
    with pytest.raises(ValueError, match="invalid schedule: time_zone"):
        render(schedule, utc(2026, 1, 1), utc(2026, 1, 2))


def test_naive_query_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="at must be a timezone-aware datetime"):
        on_call_at(Schedule("UTC", ()), datetime(2026, 1, 1))


# --- hypothesis properties ---------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Santiago",
    "Pacific/Chatham",
]
BASE = utc(2026, 1, 1)
QUARTER_HOUR = timedelta(minutes=15)
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

zones = st.sampled_from(ZONES)
quarters = st.integers  # counts of quarter hours, to keep failing examples readable
people = st.sampled_from(["ana", "ben", "cy", "dee"])
turn_lengths = st.one_of(
    st.sampled_from([3600, 8 * 3600, DAY_SECONDS, 2 * DAY_SECONDS, WEEK_SECONDS]),
    quarters(1, 14 * 96).map(lambda q: q * 900),
)


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    kind = draw(st.sampled_from(["daily", "weekly"]))
    start = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
    if kind == "daily":
        return Restriction("daily", start, draw(quarters(1, 96)) * 900)
    return Restriction("weekly", start, draw(quarters(1, 7 * 96)) * 900, draw(st.integers(0, 6)))


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime, datetime]:
    lo = BASE + draw(quarters(-365 * 96, 365 * 96)) * QUARTER_HOUR
    return lo, lo + draw(quarters(1, 21 * 96)) * QUARTER_HOUR


@st.composite
def layers(
    draw: st.DrawFn, near: datetime, *, restricted: bool = True, distinct: bool = False
) -> Layer:
    if distinct:
        who = tuple(draw(st.lists(people, min_size=1, max_size=4, unique=True)))
    else:
        who = tuple(draw(st.lists(people, min_size=1, max_size=5)))
    # Mostly near the window (layer starts inside it matter), sometimes years before it.
    offset = draw(st.one_of(quarters(-30 * 96, 10 * 96), quarters(-3 * 365 * 96, 0)))
    limits = draw(st.lists(restrictions(), max_size=2)) if restricted else []
    return Layer(who, draw(turn_lengths), near + offset * QUARTER_HOUR, tuple(limits))


@st.composite
def overrides(draw: st.DrawFn, near: datetime) -> Override:
    start = near + draw(quarters(-3 * 96, 21 * 96)) * QUARTER_HOUR
    return Override(draw(people), start, start + draw(quarters(1, 10 * 96)) * QUARTER_HOUR)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    lo, hi = draw(windows())
    stack = draw(st.lists(layers(lo), max_size=3))
    extra = draw(st.lists(overrides(lo), max_size=3))
    return Schedule(draw(zones), tuple(stack), tuple(extra)), lo, hi


def owner(shifts: list[Shift], at: datetime) -> tuple[str, str] | None:
    """(user, source) on call at `at` according to ordered, non-overlapping shifts."""
    index = bisect_right([s.start for s in shifts], at) - 1
    if index >= 0 and at < shifts[index].end:
        return shifts[index].user_id, shifts[index].source
    return None


def probes(lo: datetime, hi: datetime, *groups: Iterable[datetime]) -> list[datetime]:
    """Every breakpoint inside [lo, hi): both sides are constant between consecutive ones."""
    return sorted({lo} | {t for group in groups for t in group if lo <= t < hi})


def edges(shifts: Iterable[Shift]) -> Iterator[datetime]:
    for shift in shifts:
        yield shift.start
        yield shift.end


def reference_turns(layer: Layer, zone: str, hi: datetime) -> Iterator[tuple[str, datetime]]:
    """(user, turn start) by stepping turn after turn from the layer start: slow but obvious."""
    anchor = layer.start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    for index in range(10**6):
        if index == 0:
            start = layer.start
        elif layer.turn_seconds % DAY_SECONDS:
            start = layer.start + timedelta(seconds=index * layer.turn_seconds)
        else:
            wall = anchor + timedelta(seconds=index * layer.turn_seconds)
            start = wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        if start >= hi:
            return
        yield layer.participants[index % len(layer.participants)], start


def in_restrictions(at: datetime, limits: tuple[Restriction, ...], zone: str) -> bool:
    """Whether `at` falls inside a restriction window, by trying every candidate local day."""
    tz = ZoneInfo(zone)
    local_day = at.astimezone(tz).date()
    for limit in limits:
        for back in range(9):
            day: date = local_day - timedelta(days=back)
            if limit.kind == "weekly" and day.weekday() != limit.start_weekday:
                continue
            wall = datetime.combine(day, limit.start)
            start = wall.replace(tzinfo=tz).astimezone(UTC)
            end = (wall + timedelta(seconds=limit.duration_seconds)).replace(tzinfo=tz)
            if start <= at < end.astimezone(UTC):
                return True
    return False


def same_owner(left: Shift, right: Shift) -> bool:
    return (left.user_id, left.source) == (right.user_id, right.source)


def assert_well_formed(shifts: list[Shift], lo: datetime, hi: datetime) -> None:
    for shift in shifts:
        assert lo <= shift.start < shift.end <= hi
    for before, after in itertools.pairwise(shifts):
        assert before.end <= after.start
        assert before.end < after.start or not same_owner(before, after)


@PROPERTY_SETTINGS
@given(zone=zones, window=windows(), data=st.data())
def test_unrestricted_layer_covers_every_instant_exactly_once(
    zone: str, window: tuple[datetime, datetime], data: st.DataObject
) -> None:
    lo, hi = window
    layer = data.draw(layers(lo, restricted=False))
    shifts = render(Schedule(zone, (layer,)), lo, hi)
    assert_well_formed(shifts, lo, hi)
    if layer.start >= hi:
        assert shifts == []
        return
    assert shifts[0].start == max(lo, layer.start)
    assert shifts[-1].end == hi
    assert all(a.end == b.start for a, b in itertools.pairwise(shifts))


@PROPERTY_SETTINGS
@given(zone=zones, window=windows(), data=st.data())
def test_turns_match_stepping_from_the_layer_start(
    zone: str, window: tuple[datetime, datetime], data: st.DataObject
) -> None:
    lo, hi = window
    layer = data.draw(layers(lo, restricted=False))
    # Stepping from the start is slow, so the reference only runs for layers starting nearby.
    if (hi - layer.start) / timedelta(seconds=layer.turn_seconds) > 5000:
        layer = replace(layer, start=lo - timedelta(days=data.draw(st.integers(0, 30))))
    expected: list[tuple[str, datetime]] = [
        (user, max(start, lo)) for user, start in reference_turns(layer, zone, hi)
    ]
    # Keep the turn in progress at lo and those after it; a participant's repeated turns merge.
    first = max((i for i, (_, start) in enumerate(expected) if start <= lo), default=0)
    merged: list[tuple[str, datetime]] = []
    for user, start in expected[first:]:
        if not merged or merged[-1][0] != user:
            merged.append((user, start))
    shifts = render(Schedule(zone, (layer,)), lo, hi)
    assert [(s.user_id, s.start) for s in shifts] == merged


@PROPERTY_SETTINGS
@given(zone=zones, window=windows(), data=st.data())
def test_turns_advance_in_participant_order(
    zone: str, window: tuple[datetime, datetime], data: st.DataObject
) -> None:
    lo, hi = window
    layer = data.draw(layers(lo, restricted=False, distinct=True))
    shifts = render(Schedule(zone, (layer,)), lo, hi)
    order = layer.participants
    for before, after in itertools.pairwise(shifts):
        assert order.index(after.user_id) == (order.index(before.user_id) + 1) % len(order)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_overrides_win_exactly_in_their_window(
    scenario: tuple[Schedule, datetime, datetime],
) -> None:
    schedule, lo, hi = scenario
    with_overrides = render(schedule, lo, hi)
    without = render(replace(schedule, overrides=()), lo, hi)
    override_edges = [t for o in schedule.overrides for t in (o.start, o.end)]
    for at in probes(lo, hi, edges(with_overrides), edges(without), override_edges):
        covering = [i for i, o in enumerate(schedule.overrides) if o.start <= at < o.end]
        expected: tuple[str, str] | None
        if covering:
            expected = (schedule.overrides[covering[-1]].user_id, f"override:{covering[-1]}")
        else:
            expected = owner(without, at)
        assert owner(with_overrides, at) == expected


@PROPERTY_SETTINGS
@given(zone=zones, window=windows(), data=st.data())
def test_restrictions_leave_gaps_only_outside_their_windows(
    zone: str, window: tuple[datetime, datetime], data: st.DataObject
) -> None:
    lo, hi = window
    layer = data.draw(layers(lo))
    restricted = render(Schedule(zone, (layer,)), lo, hi)
    unrestricted = render(Schedule(zone, (replace(layer, restrictions=()),)), lo, hi)
    assert_well_formed(restricted, lo, hi)
    quarter_marks = [lo + i * QUARTER_HOUR for i in range(0, (hi - lo) // QUARTER_HOUR, 7)]
    for at in probes(lo, hi, edges(restricted), edges(unrestricted), quarter_marks):
        inside = not layer.restrictions or in_restrictions(at, layer.restrictions, zone)
        assert owner(restricted, at) == (owner(unrestricted, at) if inside else None)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_render_is_well_formed_and_independent_of_the_window_split(
    scenario: tuple[Schedule, datetime, datetime], data: st.DataObject
) -> None:
    schedule, lo, hi = scenario
    whole = render(schedule, lo, hi)
    assert_well_formed(whole, lo, hi)
    middle = lo + data.draw(st.integers(0, (hi - lo) // QUARTER_HOUR)) * QUARTER_HOUR
    left, right = render(schedule, lo, middle), render(schedule, middle, hi)
    # The halves meet at `middle`: a shift running across it comes back as two pieces.
    if left and right and same_owner(left[-1], right[0]) and left[-1].end == right[0].start:
        left[-1] = replace(left[-1], end=right.pop(0).end)
    assert left + right == whole


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_on_call_at_agrees_with_render(
    scenario: tuple[Schedule, datetime, datetime], data: st.DataObject
) -> None:
    schedule, lo, hi = scenario
    at = lo + data.draw(st.integers(0, (hi - lo) // QUARTER_HOUR - 1)) * QUARTER_HOUR
    current = on_call_at(schedule, at)
    rendered = [s for s in render(schedule, lo, hi) if s.start <= at < s.end]
    if current is None:
        assert rendered == []
        return
    assert rendered == [replace(current, start=max(current.start, lo), end=min(current.end, hi))]


@PROPERTY_SETTINGS
@given(scenario=scenarios(), count=st.integers(1, 6))
def test_next_shifts_are_the_upcoming_rendered_shifts(
    scenario: tuple[Schedule, datetime, datetime], count: int
) -> None:
    schedule, at, _ = scenario
    upcoming = next_shifts(schedule, at, count)
    assert len(upcoming) <= count
    if not upcoming:
        assert render(schedule, at, at + MAX_HORIZON) == []
        return
    assert upcoming[0].start <= at or on_call_at(schedule, at) is None
    clipped = [replace(upcoming[0], start=max(upcoming[0].start, at)), *upcoming[1:]]
    assert render(schedule, at, upcoming[-1].end) == clipped
