"""The incident state machine: table tests and properties over any sequence of actions."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.escalation.lifecycle import Action, Transition, transition
from app.vocabulary import Status

T, A, R = Status.TRIGGERED, Status.ACKNOWLEDGED, Status.RESOLVED
statuses = st.sampled_from(list(Status))
actions = st.sampled_from(list(Action))


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (T, Action.ACKNOWLEDGE, Transition(A, changed=True)),
        (A, Action.ACKNOWLEDGE, Transition(A, changed=False)),
        (R, Action.ACKNOWLEDGE, Transition(R, changed=False, refused=True)),
        (A, Action.UNACKNOWLEDGE, Transition(T, changed=True, restarts=True)),
        (T, Action.UNACKNOWLEDGE, Transition(T, changed=False)),
        (T, Action.SNOOZE, Transition(A, changed=True)),
        (A, Action.SNOOZE, Transition(A, changed=True)),
        (A, Action.ACK_TIMEOUT, Transition(T, changed=True, restarts=True)),
        (T, Action.ACK_TIMEOUT, Transition(T, changed=False)),
        (R, Action.ACK_TIMEOUT, Transition(R, changed=False)),
        (A, Action.REASSIGN, Transition(T, changed=True, restarts=True)),
        (T, Action.ESCALATE, Transition(T, changed=True)),
        (A, Action.ESCALATE, Transition(A, changed=True)),
        (T, Action.RESOLVE, Transition(R, changed=True)),
        (R, Action.RESOLVE, Transition(R, changed=False)),
        (A, Action.MERGE, Transition(R, changed=True)),
        (R, Action.MERGE, Transition(R, changed=False, refused=True)),
    ],
)
def test_table(status: Status, action: Action, expected: Transition) -> None:
    assert transition(status, action) == expected


@given(statuses, actions)
def test_refused_or_unchanged_leaves_the_status(status: Status, action: Action) -> None:
    result = transition(status, action)
    if result.refused or not result.changed:
        assert result.to is status
        assert not result.restarts
    assert not (result.refused and result.changed)


@given(statuses, actions)
def test_a_restart_always_returns_to_triggered(status: Status, action: Action) -> None:
    result = transition(status, action)
    assert not result.restarts or (result.to is T and result.changed)


@given(st.lists(actions, max_size=30))
def test_resolved_is_final(sequence: list[Action]) -> None:
    status = R
    for action in sequence:
        result = transition(status, action)
        assert result.to is R
        assert not result.changed
        status = result.to


@given(statuses, actions)
def test_every_action_is_idempotent_or_refused_the_second_time(
    status: Status, action: Action
) -> None:
    first = transition(status, action)
    second = transition(first.to, action)
    # Doing it again changes nothing, except the actions that act each time by design.
    if action not in {Action.SNOOZE, Action.ESCALATE, Action.REASSIGN} or first.to is R:
        assert not second.changed


@given(st.lists(actions, max_size=40))
def test_acknowledged_only_by_a_person_responding(sequence: list[Action]) -> None:
    status = T
    for action in sequence:
        result = transition(status, action)
        if result.to is A and status is not A:
            assert action in {Action.ACKNOWLEDGE, Action.SNOOZE}
        status = result.to
