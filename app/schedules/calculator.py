"""Pure on-call calculator: who is on call when, from layers, restrictions and overrides.

No I/O and no clock: every instant is an argument. Datetimes at the boundary are timezone-aware and
returned in UTC. Wall-clock rules (DST):

- A layer whose `turn_seconds` is a whole number of days hands off at the local wall-clock time of
  its `start` in the schedule's time zone (a daily 09:00 handoff stays at 09:00 across DST, so that
  turn lasts 23 or 25 elapsed hours). Any other turn length is fixed elapsed seconds.
- A restriction window runs from its local `start` to the local wall-clock time `duration_seconds`
  later (22:00 + 8 h ends at 06:00 local even across a DST change), so back-to-back windows tile.
- A wall-clock time that occurs twice (clocks go back) means its first occurrence; one that does not
  exist (clocks go forward) is moved forward by the length of the gap.

Restrictions mask a rotation rather than pause it: turns keep advancing with time and the layer has
nobody outside its windows. Priority: overrides (a later one beats an earlier one) over layers (a
higher index beats a lower one). `validate_schedule` returns messages; the queries raise ValueError.
"""

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_SECONDS = 86_400
WEEK_SECONDS = 7 * DAY_SECONDS
# Searches (on_call_at bounds, next_shifts) never look further than this from their instant.
MAX_HORIZON = timedelta(days=366)
_FIRST_SPAN = timedelta(days=1)
# The longest restriction window is 7 days; one more day absorbs any UTC offset.
_RESTRICTION_LOOKBACK = timedelta(days=8)


@dataclass(frozen=True, slots=True)
class Restriction:
    """A daily or weekly window, in the schedule's time zone, inside which a layer is on call."""

    kind: Literal["daily", "weekly"]
    start: time
    duration_seconds: int
    start_weekday: int | None = None  # weekly only: 0 = Monday


@dataclass(frozen=True, slots=True)
class Layer:
    """An ordered rotation of participants taking turns of `turn_seconds` from `start`."""

    participants: tuple[str, ...]
    turn_seconds: int
    start: datetime
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True, slots=True)
class Override:
    """User `user_id` is on call from `start` to `end`, whatever the layers say."""

    user_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """Layers (higher index wins where it has someone) under overrides (higher index wins)."""

    time_zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True, slots=True)
class Shift:
    """One user on call over [start, end), produced by `source` ("layer:N" or "override:N")."""

    user_id: str
    start: datetime
    end: datetime
    source: str


class _Segment(NamedTuple):
    start: datetime
    end: datetime
    priority: int
    user_id: str
    source: str


# --- validation --------------------------------------------------------------------------------


def validate_schedule(schedule: Schedule) -> list[str]:
    """Return one readable message per problem in `schedule`; an empty list means it is valid."""
    problems: list[str] = []
    try:
        ZoneInfo(schedule.time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append(f"time_zone: unknown IANA time zone {schedule.time_zone!r}")
    for index, layer in enumerate(schedule.layers):
        where = f"layers[{index}]"
        if not layer.participants:
            problems.append(f"{where}.participants: must not be empty")
        if layer.turn_seconds <= 0:
            problems.append(f"{where}.turn_seconds: must be > 0, got {layer.turn_seconds}")
        if not _is_aware(layer.start):
            problems.append(f"{where}.start: must be timezone-aware")
        for r_index, restriction in enumerate(layer.restrictions):
            problems.extend(_restriction_problems(restriction, f"{where}.restrictions[{r_index}]"))
    for index, override in enumerate(schedule.overrides):
        where = f"overrides[{index}]"
        if not (_is_aware(override.start) and _is_aware(override.end)):
            problems.append(f"{where}: start and end must be timezone-aware")
        elif override.end <= override.start:
            problems.append(f"{where}.end: must be after start")
    return problems


def _restriction_problems(restriction: Restriction, where: str) -> list[str]:
    problems: list[str] = []
    if restriction.kind not in ("daily", "weekly"):
        return [f"{where}.kind: must be 'daily' or 'weekly', got {restriction.kind!r}"]
    limit = DAY_SECONDS if restriction.kind == "daily" else WEEK_SECONDS
    if not 0 < restriction.duration_seconds <= limit:
        problems.append(
            f"{where}.duration_seconds: must be in 1..{limit} for a {restriction.kind} "
            f"restriction, got {restriction.duration_seconds}"
        )
    if restriction.start.tzinfo is not None:
        problems.append(f"{where}.start: must be a local wall-clock time without tzinfo")
    if restriction.kind == "weekly" and restriction.start_weekday not in range(7):
        problems.append(
            f"{where}.start_weekday: must be 0 (Monday)..6, got {restriction.start_weekday!r}"
        )
    if restriction.kind == "daily" and restriction.start_weekday is not None:
        problems.append(f"{where}.start_weekday: only applies to weekly restrictions")
    return problems


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _require_valid(schedule: Schedule) -> ZoneInfo:
    problems = validate_schedule(schedule)
    if problems:
        raise ValueError("invalid schedule: " + "; ".join(problems))
    return ZoneInfo(schedule.time_zone)


def _utc(moment: datetime, name: str) -> datetime:
    if not _is_aware(moment):
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _resolve_wall(wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0 picks the first of a repeated time and moves a skipped time forward by the gap.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


# --- layers: turns and restriction windows -----------------------------------------------------


class _Rotation:
    """Turn boundaries of one layer: wall-clock for whole-day turns, elapsed seconds otherwise."""

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self._start = layer.start.astimezone(UTC)
        self._zone = zone
        self._turn = timedelta(seconds=layer.turn_seconds)
        self._wall_clock = layer.turn_seconds % DAY_SECONDS == 0
        self._anchor_wall = self._start.astimezone(zone).replace(tzinfo=None)

    def boundary(self, index: int) -> datetime:
        """Start instant of turn `index` (turn 0 starts exactly at the layer start)."""
        if index == 0 or not self._wall_clock:
            return self._start + index * self._turn
        return _resolve_wall(self._anchor_wall + index * self._turn, self._zone)

    def index_at(self, at: datetime) -> int:
        """Index of the turn containing `at`, which must not precede the layer start."""
        if not self._wall_clock:
            return (at - self._start) // self._turn
        # Local wall-clock distance is within one turn of the answer; step to the exact turn.
        wall = at.astimezone(self._zone).replace(tzinfo=None)
        index = max(0, (wall - self._anchor_wall) // self._turn)
        while index > 0 and self.boundary(index) > at:
            index -= 1
        while self.boundary(index + 1) <= at:
            index += 1
        return index


def _layer_turns(
    layer: Layer, zone: ZoneInfo, lo: datetime, hi: datetime
) -> Iterator[tuple[str, datetime, datetime]]:
    """Yield (user, start, end) for the layer's turns clipped to [lo, hi), ignoring restrictions."""
    begin = max(lo, layer.start.astimezone(UTC))
    if begin >= hi:
        return
    if len(set(layer.participants)) == 1:
        # One person rotating with themselves is one unbroken turn; skip the arithmetic.
        yield layer.participants[0], begin, hi
        return
    rotation = _Rotation(layer, zone)
    index = rotation.index_at(begin)
    turn_start = rotation.boundary(index)
    while turn_start < hi:
        turn_end = rotation.boundary(index + 1)
        start, end = max(turn_start, begin), min(turn_end, hi)
        if start < end:
            yield layer.participants[index % len(layer.participants)], start, end
        index += 1
        turn_start = turn_end


def _restriction_windows(
    restrictions: Iterable[Restriction], zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """Union of the restriction windows clipped to [lo, hi), merged and in order."""
    first_day = (lo.astimezone(zone) - _RESTRICTION_LOOKBACK).date()
    last_day = hi.astimezone(zone).date()
    windows: list[tuple[datetime, datetime]] = []
    for restriction in restrictions:
        day, step = first_day, timedelta(days=1)
        if restriction.kind == "weekly":
            step = timedelta(days=7)
            day += timedelta(days=(int(restriction.start_weekday or 0) - day.weekday()) % 7)
        length = timedelta(seconds=restriction.duration_seconds)
        while day <= last_day:
            wall = datetime.combine(day, restriction.start)
            start = max(_resolve_wall(wall, zone), lo)
            end = min(_resolve_wall(wall + length, zone), hi)
            if start < end:
                windows.append((start, end))
            day += step
    windows.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _mask(
    turns: Iterable[tuple[str, datetime, datetime]], windows: list[tuple[datetime, datetime]]
) -> Iterator[tuple[str, datetime, datetime]]:
    """Keep only the parts of the (ordered) turns that fall inside the (ordered) windows."""
    first = 0
    for user_id, turn_start, turn_end in turns:
        while first < len(windows) and windows[first][1] <= turn_start:
            first += 1
        for window_start, window_end in windows[first:]:
            if window_start >= turn_end:
                break
            start, end = max(turn_start, window_start), min(turn_end, window_end)
            if start < end:
                yield user_id, start, end


# --- composition -------------------------------------------------------------------------------


def _segments(schedule: Schedule, zone: ZoneInfo, lo: datetime, hi: datetime) -> list[_Segment]:
    segments: list[_Segment] = []
    for index in reversed(range(len(schedule.layers))):
        layer = schedule.layers[index]
        turns: Iterable[tuple[str, datetime, datetime]] = _layer_turns(layer, zone, lo, hi)
        if layer.restrictions:
            turns = _mask(turns, _restriction_windows(layer.restrictions, zone, lo, hi))
        segments.extend(
            _Segment(start, end, index, user_id, f"layer:{index}") for user_id, start, end in turns
        )
        if not layer.restrictions and layer.start <= lo:
            break  # this layer has someone all through the window: lower layers never show
    for index, override in enumerate(schedule.overrides):
        start = max(override.start.astimezone(UTC), lo)
        end = min(override.end.astimezone(UTC), hi)
        if start < end:
            priority = len(schedule.layers) + index
            segments.append(_Segment(start, end, priority, override.user_id, f"override:{index}"))
    return segments


def _flatten(segments: list[_Segment]) -> list[Shift]:
    """At every instant the highest-priority segment present wins; merge same user+source runs."""
    segments.sort(key=lambda segment: segment.start)
    breakpoints = sorted({s.start for s in segments} | {s.end for s in segments})
    active: list[tuple[int, int]] = []  # heap of (-priority, segment index)
    shifts: list[Shift] = []
    pending = 0
    for here, there in pairwise(breakpoints):
        while pending < len(segments) and segments[pending].start <= here:
            heapq.heappush(active, (-segments[pending].priority, pending))
            pending += 1
        # Lazy deletion: only an ended segment that would win has to be removed.
        while active and segments[active[0][1]].end <= here:
            heapq.heappop(active)
        if not active:
            continue
        winner = segments[active[0][1]]
        last = shifts[-1] if shifts else None
        if last and (last.user_id, last.source, last.end) == (winner.user_id, winner.source, here):
            shifts[-1] = replace(last, end=there)
        else:
            shifts.append(Shift(winner.user_id, here, there, winner.source))
    return shifts


def _render(schedule: Schedule, zone: ZoneInfo, lo: datetime, hi: datetime) -> list[Shift]:
    if lo >= hi:
        return []
    return _flatten(_segments(schedule, zone, lo, hi))


def _shift_around(schedule: Schedule, zone: ZoneInfo, at: datetime) -> Shift | None:
    """The shift containing `at` with its full bounds, searched at most MAX_HORIZON each way."""
    before = after = _FIRST_SPAN
    while True:
        lo, hi = at - before, at + after
        rendered = _render(schedule, zone, lo, hi)
        shift = next((s for s in rendered if s.start <= at < s.end), None)
        if shift is None:
            return None
        grow_before = shift.start == lo and before < MAX_HORIZON
        grow_after = shift.end == hi and after < MAX_HORIZON
        if not (grow_before or grow_after):
            return shift
        if grow_before:
            before = min(before * 4, MAX_HORIZON)
        if grow_after:
            after = min(after * 4, MAX_HORIZON)


# --- public queries ----------------------------------------------------------------------------


def render(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Final on-call shifts in [start, end), clipped, ordered; merges same user+source only."""
    zone = _require_valid(schedule)
    return _render(schedule, zone, _utc(start, "start"), _utc(end, "end"))


def on_call_at(schedule: Schedule, at: datetime) -> Shift | None:
    """The shift containing `at` (full bounds, capped at MAX_HORIZON away), or None if nobody."""
    zone = _require_valid(schedule)
    return _shift_around(schedule, zone, _utc(at, "at"))


def next_shifts(schedule: Schedule, at: datetime, count: int) -> list[Shift]:
    """Up to `count` shifts from `at` on (the current one keeps its true start), to MAX_HORIZON."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    zone = _require_valid(schedule)
    at = _utc(at, "at")
    if count == 0:
        return []
    limit, span = at + MAX_HORIZON, _FIRST_SPAN
    while True:
        hi = min(at + span, limit)
        shifts = _render(schedule, zone, at, hi)
        # A shift ending before `hi` is final; one reaching `hi` may continue past it.
        finished = sum(1 for shift in shifts if shift.end < hi)
        if finished >= count or hi == limit:
            break
        span *= 4
    shifts = shifts[:count]
    if shifts and shifts[0].start == at:
        current = _shift_around(schedule, zone, at)
        if current is not None:
            shifts[0] = replace(shifts[0], start=current.start)
    return shifts
