"""An incident's status as a state machine: what each action does from each status. Pure.

The shell (app/incidents) asks `transition` before it changes a locked incident, and does what
the answer says: refuse (a resolved incident takes no action but a note), do nothing (the
action was done already), or move to the status given, restarting escalation when it says so.
"""

from dataclasses import dataclass
from enum import StrEnum

from app.vocabulary import Status


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    SNOOZE = "snooze"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    MERGE = "merge"
    # The acknowledgement lapsed: the service's ack timeout, or the end of a snooze.
    ACK_TIMEOUT = "ack_timeout"


@dataclass(frozen=True, slots=True)
class Transition:
    """What one action does to an incident in one status."""

    to: Status
    # False: the action was done already (or does not apply); nothing changes.
    changed: bool
    # Escalation starts again at level 1, now.
    restarts: bool = False
    # The action is not allowed: the incident is resolved.
    refused: bool = False


def _stay(status: Status) -> Transition:
    return Transition(status, changed=False)


def _refuse(status: Status) -> Transition:
    return Transition(status, changed=False, refused=True)


def transition(status: Status, action: Action) -> Transition:
    """What `action` does to an incident that is `status`."""
    if status is Status.RESOLVED:
        # Resolving twice says so; every other action on a resolved incident is refused,
        # except a lapsing timer, which finds nothing to do.
        return _stay(status) if action in _IDLE_ON_RESOLVED else _refuse(status)
    match action:
        case Action.ACKNOWLEDGE:
            if status is Status.ACKNOWLEDGED:
                return _stay(status)
            return Transition(Status.ACKNOWLEDGED, changed=True)
        case Action.SNOOZE:
            return Transition(Status.ACKNOWLEDGED, changed=True)
        case Action.UNACKNOWLEDGE | Action.ACK_TIMEOUT:
            if status is not Status.ACKNOWLEDGED:
                return _stay(status)
            return Transition(Status.TRIGGERED, changed=True, restarts=True)
        case Action.REASSIGN:
            return Transition(Status.TRIGGERED, changed=True, restarts=True)
        case Action.ESCALATE:
            return Transition(status, changed=True)
        case Action.RESOLVE | Action.MERGE:
            return Transition(Status.RESOLVED, changed=True)


_IDLE_ON_RESOLVED = frozenset({Action.RESOLVE, Action.ACK_TIMEOUT})
