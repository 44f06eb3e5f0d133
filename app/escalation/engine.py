"""Given a policy snapshot, a position, the incident's status and an instant: what happens next.

No I/O, no clock: the shell loads state, calls these functions, persists and performs the result.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.escalation.snapshot import Condition, PolicySnapshot
from app.vocabulary import Status


@dataclass(frozen=True)
class Position:
    """Where an incident stands: a level (1-based) and loop; `entered_at` None means pending."""

    level: int
    loop: int
    entered_at: datetime | None
    due_at: datetime | None


@dataclass(frozen=True)
class EnterLevel:
    """Notify every target of the level, in parallel, as of `at`."""

    level: int
    loop: int
    at: datetime
    from_level: int | None


@dataclass(frozen=True)
class SkipLevel:
    """Nobody at the level can be reached; move on at once."""

    level: int
    loop: int
    at: datetime


@dataclass(frozen=True)
class Repeat:
    """The chain restarts at level 1 for another loop."""

    loop: int
    at: datetime


@dataclass(frozen=True)
class Exhaust:
    """The last level of the last loop has passed; the incident stays open."""

    at: datetime


Decision = EnterLevel | SkipLevel | Repeat | Exhaust


@dataclass(frozen=True)
class StepResult:
    decisions: tuple[Decision, ...]
    position: Position


def start(at: datetime) -> Position:
    """The position of a new (or restarted) incident: level 1 is entered at `at`."""
    return Position(level=1, loop=0, entered_at=None, due_at=at)


def holds(condition: Condition, status: Status) -> bool:
    """Whether a level with this condition still escalates in this status."""
    if status is Status.RESOLVED:
        return False
    return condition is Condition.UNRESOLVED or status is Status.TRIGGERED


def should_deliver(
    *,
    status: Status,
    condition: Condition,
    acknowledged_at: datetime | None,
    created_at: datetime,
) -> bool:
    """Whether a page decided at `created_at` may still go out now."""
    if status is Status.RESOLVED:
        return False
    if status is Status.TRIGGERED or condition is Condition.UNRESOLVED:
        return True
    # Acknowledged: only pages decided after the ack (by an `unresolved` climb) survive it.
    return acknowledged_at is not None and created_at > acknowledged_at


# A step that fires later than this (an outage, not scheduling jitter) starts its level at the
# firing instant, so every level still gets its full escalate_after_seconds after a long gap.
CATCH_UP_AFTER = timedelta(seconds=5)


def on_due(
    policy: PolicySnapshot,
    position: Position,
    status: Status,
    unreachable: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> StepResult:
    """The step due at `position.due_at` fires (at `now`): enter the pending level or climb.

    `unreachable` holds the levels nobody can be reached at when the step fires. Levels are
    entered at the due instant, so lateness never accumulates, unless the step fires more
    than CATCH_UP_AFTER late: then at `now`, so an outage does not page every tier at once.
    """
    at = position.due_at
    if at is None:
        return StepResult((), position)
    if now is not None and now - at > CATCH_UP_AFTER:
        at = now
    stopped = replace(position, due_at=None)
    if position.entered_at is None:
        if not holds(policy.level(position.level).condition, status):
            return StepResult((), stopped)
        return _enter(policy, position.level, position.loop, at, None, unreachable, ())
    if not holds(policy.level(position.level).condition, status):
        return StepResult((), stopped)
    return _climb(policy, position.level, position.loop, at, unreachable, ())


def _climb(
    policy: PolicySnapshot,
    level: int,
    loop: int,
    at: datetime,
    unreachable: frozenset[int],
    decisions: tuple[Decision, ...],
) -> StepResult:
    if level < len(policy.levels):
        return _enter(policy, level + 1, loop, at, level, unreachable, decisions)
    if loop < policy.repeat:
        repeated = (*decisions, Repeat(loop=loop + 1, at=at))
        return _enter(policy, 1, loop + 1, at, level, unreachable, repeated)
    final = Position(level=level, loop=loop, entered_at=at, due_at=None)
    return StepResult((*decisions, Exhaust(at=at)), final)


def _enter(
    policy: PolicySnapshot,
    level: int,
    loop: int,
    at: datetime,
    from_level: int | None,
    unreachable: frozenset[int],
    decisions: tuple[Decision, ...],
) -> StepResult:
    if level in unreachable:
        skipped = (*decisions, SkipLevel(level=level, loop=loop, at=at))
        # Reachability is judged at one instant, so a second pass would skip the same levels.
        if sum(isinstance(d, SkipLevel) for d in skipped) >= len(policy.levels):
            final = Position(level=level, loop=loop, entered_at=at, due_at=None)
            return StepResult((*skipped, Exhaust(at=at)), final)
        return _climb(policy, level, loop, at, unreachable, skipped)
    due = at + timedelta(seconds=policy.level(level).escalate_after_seconds)
    entered = Position(level=level, loop=loop, entered_at=at, due_at=due)
    return StepResult((*decisions, EnterLevel(level, loop, at, from_level)), entered)


def jump(
    policy: PolicySnapshot,
    position: Position,
    level: int,
    at: datetime,
    unreachable: frozenset[int] = frozenset(),
) -> StepResult:
    """A person moves the incident to `level` (same loop): entered at `at`, whatever the status.

    An unreachable target level is skipped onward exactly as a timed climb would skip it.
    """
    if not 1 <= level <= len(policy.levels):
        raise ValueError(f"level {level} is not in 1..{len(policy.levels)}")
    return _enter(policy, level, position.loop, at, position.level, unreachable, ())
