"""The pure escalation core: table tests and properties."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.escalation.engine import (
    EnterLevel,
    Exhaust,
    Position,
    Repeat,
    SkipLevel,
    holds,
    on_due,
    should_deliver,
    start,
)
from app.escalation.snapshot import Condition, LevelSnapshot, PolicySnapshot, TargetSnapshot
from app.vocabulary import Status

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
USER = (TargetSnapshot(type="user", id="u1"),)


def policy(*delays: int, repeat: int = 0, conditions: tuple[Condition, ...] = ()) -> PolicySnapshot:
    levels = tuple(
        LevelSnapshot(
            escalate_after_seconds=d,
            targets=USER,
            condition=conditions[i] if i < len(conditions) else Condition.UNACKNOWLEDGED,
        )
        for i, d in enumerate(delays)
    )
    return PolicySnapshot(levels=levels, repeat=repeat)


def test_trigger_enters_level_one_at_once() -> None:
    result = on_due(policy(300, 600), start(T0), Status.TRIGGERED)
    assert result.decisions == (EnterLevel(level=1, loop=0, at=T0, from_level=None),)
    assert result.position == Position(1, 0, T0, T0 + timedelta(seconds=300))


def test_climbs_from_the_previous_due_time_not_the_run_time() -> None:
    p = policy(300, 600)
    first = on_due(p, start(T0), Status.TRIGGERED).position
    second = on_due(p, first, Status.TRIGGERED)
    assert second.decisions == (EnterLevel(2, 0, T0 + timedelta(seconds=300), 1),)
    assert second.position.due_at == T0 + timedelta(seconds=900)


def test_scheduling_jitter_does_not_shift_the_next_due_time() -> None:
    p = policy(300, 600)
    first = on_due(p, start(T0), Status.TRIGGERED, now=T0 + timedelta(seconds=1)).position
    assert first.due_at == T0 + timedelta(seconds=300)


def test_after_an_outage_each_level_still_gets_its_full_delay() -> None:
    p = policy(300, 600)
    pos = on_due(p, start(T0), Status.TRIGGERED).position
    late = T0 + timedelta(seconds=3600)
    result = on_due(p, pos, Status.TRIGGERED, now=late)
    assert result.decisions == (EnterLevel(2, 0, late, 1),)
    assert result.position.due_at == late + timedelta(seconds=600)


def test_repeat_restarts_at_level_one_then_exhausts() -> None:
    p = policy(60, 60, repeat=1)
    pos = on_due(p, start(T0), Status.TRIGGERED).position
    pos = on_due(p, pos, Status.TRIGGERED).position
    again = on_due(p, pos, Status.TRIGGERED)
    at = T0 + timedelta(seconds=120)
    assert again.decisions == (Repeat(loop=1, at=at), EnterLevel(1, 1, at, 2))
    pos = on_due(p, again.position, Status.TRIGGERED).position
    final = on_due(p, pos, Status.TRIGGERED)
    assert final.decisions == (Exhaust(at=T0 + timedelta(seconds=240)),)
    assert final.position.due_at is None


def test_unreachable_level_is_skipped_at_once() -> None:
    result = on_due(policy(1800, 600), start(T0), Status.TRIGGERED, frozenset({1}))
    assert result.decisions == (SkipLevel(1, 0, T0), EnterLevel(2, 0, T0, 1))
    assert result.position.due_at == T0 + timedelta(seconds=600)


def test_all_levels_unreachable_exhausts_without_looping_forever() -> None:
    result = on_due(policy(60, 60, repeat=5), start(T0), Status.TRIGGERED, frozenset({1, 2}))
    assert result.decisions == (SkipLevel(1, 0, T0), SkipLevel(2, 0, T0), Exhaust(at=T0))


def test_acknowledged_stops_an_unacknowledged_level() -> None:
    p = policy(60, 60)
    pos = on_due(p, start(T0), Status.TRIGGERED).position
    result = on_due(p, pos, Status.ACKNOWLEDGED)
    assert result.decisions == ()
    assert result.position.due_at is None


def test_unresolved_level_keeps_climbing_after_ack() -> None:
    p = policy(60, 60, conditions=(Condition.UNRESOLVED, Condition.UNACKNOWLEDGED))
    pos = on_due(p, start(T0), Status.TRIGGERED).position
    result = on_due(p, pos, Status.ACKNOWLEDGED)
    assert result.decisions == (EnterLevel(2, 0, T0 + timedelta(seconds=60), 1),)
    assert on_due(p, result.position, Status.ACKNOWLEDGED).decisions == ()


def test_delivery_rules() -> None:
    before, after = T0, T0 + timedelta(seconds=5)
    ack = T0 + timedelta(seconds=1)
    kw = {"acknowledged_at": ack}
    assert should_deliver(
        status=Status.TRIGGERED,
        condition=Condition.UNACKNOWLEDGED,
        acknowledged_at=None,
        created_at=before,
    )
    assert not should_deliver(
        status=Status.ACKNOWLEDGED, condition=Condition.UNACKNOWLEDGED, created_at=before, **kw
    )
    assert should_deliver(
        status=Status.ACKNOWLEDGED, condition=Condition.UNACKNOWLEDGED, created_at=after, **kw
    )
    assert should_deliver(
        status=Status.ACKNOWLEDGED, condition=Condition.UNRESOLVED, created_at=before, **kw
    )
    assert not should_deliver(
        status=Status.RESOLVED, condition=Condition.UNRESOLVED, created_at=after, **kw
    )


levels_st = st.lists(
    st.tuples(st.integers(1, 3600), st.sampled_from(list(Condition))), min_size=1, max_size=5
)


def _policy(levels: list[tuple[int, Condition]], repeat: int) -> PolicySnapshot:
    return PolicySnapshot(levels=tuple(LevelSnapshot(d, USER, c) for d, c in levels), repeat=repeat)


@given(levels_st, st.integers(0, 3), st.sampled_from(list(Status)), st.integers(0, 20))
def test_property_nothing_is_decided_when_the_condition_fails(
    levels: list[tuple[int, Condition]], repeat: int, status: Status, steps: int
) -> None:
    p = _policy(levels, repeat)
    pos = on_due(p, start(T0), Status.TRIGGERED).position
    for _ in range(steps):
        if pos.due_at is None:
            break
        pos = on_due(p, pos, Status.TRIGGERED).position
    if pos.due_at is None:
        return
    result = on_due(p, pos, status)
    if not holds(p.level(pos.level).condition, status):
        assert result.decisions == ()
        assert result.position.due_at is None
    if status is Status.RESOLVED:
        assert result.decisions == ()


@given(levels_st, st.integers(0, 3), st.sets(st.integers(1, 5)))
def test_property_due_times_never_drift_and_repeat_is_respected(
    levels: list[tuple[int, Condition]], repeat: int, unreachable: set[int]
) -> None:
    p = _policy(levels, repeat)
    pos = start(T0)
    entered: list[EnterLevel] = []
    exhausted = 0
    for _ in range(len(levels) * (repeat + 1) + 2):
        if pos.due_at is None:
            break
        result = on_due(p, pos, Status.TRIGGERED, frozenset(unreachable))
        for d in result.decisions:
            assert d.at == pos.due_at, "every decision happens at the due instant, never later"
            if isinstance(d, EnterLevel):
                entered.append(d)
                assert d.level not in unreachable
            if isinstance(d, Exhaust):
                exhausted += 1
        pos = result.position
    assert pos.due_at is None, "the chain always ends"
    assert exhausted == 1
    reachable = [n for n in range(1, len(levels) + 1) if n not in unreachable]
    assert len(entered) == (len(reachable) * (repeat + 1) if reachable else 0)
    assert all(e.loop <= repeat for e in entered)
    # Each level is entered exactly at the sum of the delays of the levels before it.
    expected = T0
    for e in entered:
        assert e.at == expected
        expected += timedelta(seconds=p.level(e.level).escalate_after_seconds)
