"""Incidents as the API shows them, and what triggers one."""

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from app import jsonsafe
from app.models import Incident
from app.schemas import STRICT
from app.store.documents import IncidentRow, incident_row
from app.vocabulary import Priority, Severity, Status, Urgency

MAX_DETAILS_BYTES = 64 * 1024


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
    status: Status
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


def to_read(incident: Incident) -> IncidentRead:
    """The API view of an incident."""
    return row_read(incident_row(incident))


def row_read(row: IncidentRow) -> IncidentRead:
    """The API view of an incident's row (`app.store.documents`)."""
    return IncidentRead(
        id=row.id,
        number=row.number,
        service_id=row.service_id,
        title=row.title,
        status=row.status,
        severity=row.severity,
        urgency=row.urgency,
        priority=row.priority,
        dedup_key=row.dedup_key,
        source=row.source,
        details=row.details,
        alert_count=row.alert_count,
        escalation=EscalationRead(
            level=row.escalation_level,
            loop=row.escalation_loop,
            next_due_at=row.next_due_at,
            exhausted=row.exhausted,
            policy_id=row.policy_id,
            policy_name=row.policy_name or "",
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        snoozed_until=row.snoozed_until,
        ack_timeout_at=row.ack_timeout_at,
        auto_resolve_at=row.auto_resolve_at,
        merged_into_id=row.merged_into_id,
    )
