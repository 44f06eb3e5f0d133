"""The incident as the API shows it (`IncidentRead` in JSON), for pages and outbound events.

Built straight from the row, without model validation: pages and events are hot paths.
"""

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from app.models import Incident


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """The incident's columns that its document shows (the policy's name from its snapshot)."""

    id: uuid.UUID
    number: int
    service_id: uuid.UUID
    title: str
    status: str
    severity: str
    urgency: str
    priority: str
    dedup_key: str
    source: str
    details: dict[str, Any]
    alert_count: int
    escalation_level: int
    escalation_loop: int
    next_due_at: datetime | None
    exhausted: bool
    policy_id: uuid.UUID | None
    policy_name: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: dict[str, Any] | None
    resolved_at: datetime | None
    resolved_by: dict[str, Any] | None
    snoozed_until: datetime | None
    ack_timeout_at: datetime | None
    auto_resolve_at: datetime | None
    merged_into_id: uuid.UUID | None


# The columns an `IncidentRow` holds, in order: what the claim query selects.
INCIDENT_COLUMNS = tuple(f.name for f in fields(IncidentRow))


def _instant(value: datetime | None) -> str | None:
    """A timestamp as the API writes it (`…Z` for UTC)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def incident_document(row: IncidentRow) -> dict[str, Any]:
    """The incident as the API shows it (`IncidentRead` in JSON), built without validation.

    A page carries the same document the API returns; building it directly from the locked row
    keeps model validation and serialisation off the delivery hot path.
    """
    return {
        "id": str(row.id),
        "number": row.number,
        "service_id": str(row.service_id),
        "title": row.title,
        "status": row.status,
        "severity": row.severity,
        "urgency": row.urgency,
        "priority": row.priority,
        "dedup_key": row.dedup_key,
        "source": row.source,
        "details": row.details,
        "alert_count": row.alert_count,
        "escalation": {
            "level": row.escalation_level,
            "loop": row.escalation_loop,
            "next_due_at": _instant(row.next_due_at),
            "exhausted": row.exhausted,
            "policy_id": _id(row.policy_id),
            "policy_name": row.policy_name or "",
        },
        "created_at": _instant(row.created_at),
        "updated_at": _instant(row.updated_at),
        "acknowledged_at": _instant(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": _instant(row.resolved_at),
        "resolved_by": row.resolved_by,
        "snoozed_until": _instant(row.snoozed_until),
        "ack_timeout_at": _instant(row.ack_timeout_at),
        "auto_resolve_at": _instant(row.auto_resolve_at),
        "merged_into_id": _id(row.merged_into_id),
    }


def incident_row(incident: Incident) -> IncidentRow:
    """The document's columns of an incident loaded as an ORM object."""
    assert incident.number is not None
    values = {name: getattr(incident, name) for name in INCIDENT_COLUMNS if name != "policy_name"}
    policy_name = (incident.policy_snapshot or {}).get("name", "")
    return IncidentRow(**values, policy_name=policy_name)


def document(incident: Incident) -> dict[str, Any]:
    """The document of an incident loaded as an ORM object."""
    return incident_document(incident_row(incident))
