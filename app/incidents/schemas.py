"""Incidents as the API shows them, and what triggers one."""

import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from app import jsonsafe
from app.schemas import STRICT

MAX_DETAILS_BYTES = 64 * 1024


class Severity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Urgency(StrEnum):
    HIGH = "high"
    LOW = "low"


class Priority(StrEnum):
    """Opsgenie's priorities, P1 the highest; kept on every incident."""

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


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class IncidentTrigger(BaseModel):
    model_config = STRICT
    service_id: uuid.UUID | None = Field(
        default=None, description="Required with a user key; implied by an integration key."
    )
    title: str = Field(min_length=1, max_length=1024)
    severity: Severity = Severity.ERROR
    urgency: Urgency = Urgency.HIGH
    priority: Priority | None = Field(
        default=None, description="P1 (highest) to P5; derived from the severity when absent."
    )
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    source: str = Field(default="", max_length=255)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _details_size(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        context = info.context or {}
        if not context.get("json_checked"):
            try:
                jsonsafe.check(value)
            except jsonsafe.UnsafeJson as exc:
                where = f" at {jsonsafe.dotted(exc.path)}" if exc.path else ""
                raise ValueError(f"{exc.message}{where}") from exc
        # A caller that parsed the details out of a small enough request body may say so:
        # JSON re-encoded with ASCII escapes is at most 6 characters per byte it came from.
        source_bytes = context.get("source_bytes")
        if source_bytes is not None and source_bytes * 6 <= MAX_DETAILS_BYTES:
            return value
        if len(json.dumps(value, separators=(",", ":"))) > MAX_DETAILS_BYTES:
            raise ValueError(f"must be at most {MAX_DETAILS_BYTES} bytes of JSON")
        return value


class EscalationRead(BaseModel):
    level: int
    loop: int
    next_due_at: datetime | None
    exhausted: bool
    policy_id: uuid.UUID | None
    policy_name: str


class IncidentRead(BaseModel):
    id: uuid.UUID
    number: int
    service_id: uuid.UUID
    title: str
    status: IncidentStatus
    severity: Severity
    urgency: Urgency
    priority: Priority
    dedup_key: str
    source: str
    details: dict[str, Any]
    alert_count: int
    escalation: EscalationRead
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: dict[str, Any] | None
    resolved_at: datetime | None
    resolved_by: dict[str, Any] | None
    snoozed_until: datetime | None = None
    ack_timeout_at: datetime | None = None
    auto_resolve_at: datetime | None = None
    merged_into_id: uuid.UUID | None = None


class ActionResult(BaseModel):
    changed: bool
    message: str
    incident: IncidentRead


class TimelineItem(BaseModel):
    id: int
    at: datetime
    type: str
    actor: dict[str, Any]
    details: dict[str, Any]


class IncidentPage(BaseModel):
    items: list[IncidentRead]
    next_cursor: str | None
