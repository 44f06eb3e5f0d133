"""The pure core's manual escalation: `jump` enters a level now, whatever the status."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.escalation.engine import (
    EnterLevel,
    Exhaust,
    Position,
    Repeat,
    SkipLevel,
    jump,
    on_due,
    start,
)
from app.escalation.snapshot import Condition, LevelSnapshot, PolicySnapshot, TargetSnapshot
from app.vocabulary import Status

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=42)
USER = (TargetSnapshot(type="user", id="u1"),)


def policy(*delays: int, repeat: int = 0) -> PolicySnapshot:
    return PolicySnapshot(
        levels=tuple(LevelSnapshot(escalate_after_seconds=d, targets=USER) for d in delays),
        repeat=repeat,
    )


AT_ONE = Position(level=1, loop=0, entered_at=T0, due_at=T0 + timedelta(seconds=300))
STOPPED_AT_TWO = Position(level=2, loop=1, entered_at=T0, due_at=None)


@pytest.mark.parametrize(
    ("position", "level", "unreachable", "decisions", "due_seconds"),
    [
        # Next level now; its timer counts from the jump, not from the old due time.
        (AT_ONE, 2, frozenset(), (EnterLevel(2, 0, NOW, 1),), 600),
        # Back down to level 1 (re-page the first tier), same loop.
        (STOPPED_AT_TWO, 1, frozenset(), (EnterLevel(1, 1, NOW, 2),), 300),
        # A stopped chain (acknowledged or exhausted) is entered again.
        (STOPPED_AT_TWO, 2, frozenset(), (EnterLevel(2, 1, NOW, 2),), 600),
        # An unreachable target level is skipped onward at once.
        (AT_ONE, 2, frozenset({2}), (SkipLevel(2, 0, NOW), EnterLevel(3, 0, NOW, 2)), 900),
    ],
)
def test_jump_table(
    position: Position,
    level: int,
    unreachable: frozenset[int],
    decisions: tuple[object, ...],
    due_seconds: int,
) -> None:
    result = jump(policy(300, 600, 900, repeat=1), position, level, NOW, unreachable)
    assert result.decisions == decisions
    entered = [d for d in result.decisions if isinstance(d, EnterLevel)][-1]
    assert result.position == Position(
        entered.level, entered.loop, NOW, NOW + timedelta(seconds=due_seconds)
    )


def test_jump_past_the_last_reachable_level_repeats_or_exhausts() -> None:
    repeated = jump(policy(60, 60, repeat=1), AT_ONE, 2, NOW, frozenset({2}))
    assert repeated.decisions == (SkipLevel(2, 0, NOW), Repeat(1, NOW), EnterLevel(1, 1, NOW, 2))
    final = jump(policy(60, 60), AT_ONE, 2, NOW, frozenset({2}))
    assert final.decisions == (SkipLevel(2, 0, NOW), Exhaust(NOW))
    assert final.position.due_at is None


@pytest.mark.parametrize("level", [0, 4, -1])
def test_jump_to_an_unknown_level_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match=r"not in 1\.\.3"):
        jump(policy(1, 1, 1), AT_ONE, level, NOW)


def test_jump_ignores_the_status_but_the_next_timed_step_does_not() -> None:
    p = PolicySnapshot(
        levels=(
            LevelSnapshot(60, USER, Condition.UNACKNOWLEDGED),
            LevelSnapshot(60, USER, Condition.UNACKNOWLEDGED),
        )
    )
    jumped = jump(p, start(T0), 2, NOW)
    assert jumped.decisions == (EnterLevel(2, 0, NOW, 1),)
    # Acknowledged: the timer of the level it jumped to stops there.
    assert on_due(p, jumped.position, Status.ACKNOWLEDGED).decisions == ()


@given(
    st.lists(st.integers(1, 3600), min_size=1, max_size=5),
    st.integers(0, 3),
    st.data(),
)
def test_property_jump_decides_only_at_the_jump_instant(
    delays: list[int], repeat: int, data: st.DataObject
) -> None:
    p = policy(*delays, repeat=repeat)
    level = data.draw(st.integers(1, len(delays)))
    unreachable = frozenset(data.draw(st.sets(st.integers(1, len(delays)))))
    result = jump(p, AT_ONE, level, NOW, unreachable)
    assert all(d.at == NOW for d in result.decisions)
    entered = [d for d in result.decisions if isinstance(d, EnterLevel)]
    assert len(entered) <= 1
    if level not in unreachable:
        assert entered == [EnterLevel(level, 0, NOW, 1)]
    assert result.position.due_at is None or result.position.entered_at == NOW
