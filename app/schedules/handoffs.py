"""Which on-call notices are due: handoffs, reminders and coverage gaps (pure; no I/O, no clock)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.schedules.oncall import OnCall


@dataclass(frozen=True, slots=True)
class Stretch:
    """One person on call without a break (layer and override shifts of theirs joined)."""

    user_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class DueHandoff:
    kind: str  # "handoff" (the stretch starts) or "reminder" (it starts soon)
    stretch: Stretch


def stretches(shifts: Sequence[OnCall]) -> list[Stretch]:
    """Consecutive shifts of one person joined: a handoff is when the person changes."""
    joined: list[Stretch] = []
    for shift in sorted(shifts, key=lambda s: s.start):
        last = joined[-1] if joined else None
        if last is not None and last.user_id == shift.user_id and last.end == shift.start:
            joined[-1] = replace(last, end=shift.end)
        else:
            joined.append(Stretch(shift.user_id, shift.start, shift.end))
    return joined


def due_handoffs(
    joined: Sequence[Stretch],
    *,
    window_start: datetime,
    now: datetime,
    reminder: timedelta | None,
) -> list[DueHandoff]:
    """Stretches that began in (window_start, now] get a handoff; those starting within the
    reminder lead get a reminder. A stretch that began at or before window_start is not new."""
    due = []
    for stretch in joined:
        if window_start < stretch.start <= now:
            due.append(DueHandoff("handoff", stretch))
        elif reminder is not None and now < stretch.start <= now + reminder:
            due.append(DueHandoff("reminder", stretch))
    return due


def coverage_gaps(
    shifts: Sequence[OnCall], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) when nobody is on call."""
    gaps = []
    cursor = start
    for shift in sorted(shifts, key=lambda s: s.start):
        if shift.start > cursor:
            gaps.append((cursor, min(shift.start, end)))
        cursor = max(cursor, shift.end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
