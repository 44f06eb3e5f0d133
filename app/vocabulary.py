"""The words every part of Stairway shares about an incident: status, severity, urgency, priority.

They sit below every package, so a module needing one never imports a higher layer for it.
"""

from enum import StrEnum


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Urgency(StrEnum):
    HIGH = "high"
    LOW = "low"


class Priority(StrEnum):
    """Opsgenie's alert priority, P1 the highest, as senders speaking its API give it."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


# An incident's priority when the sender gave none, from its severity.
PRIORITY_OF_SEVERITY = {
    Severity.CRITICAL: Priority.P1,
    Severity.ERROR: Priority.P2,
    Severity.WARNING: Priority.P3,
    Severity.INFO: Priority.P4,
}
