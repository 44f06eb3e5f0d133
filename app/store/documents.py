"""The incident as the API shows it (`IncidentRead` in JSON), for pages and outbound events.

Built straight from the row, without model validation: pages and events are hot paths.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.models import Incident

# The columns `incident_document` reads, in the order the claim query selects them.
INCIDENT_COLUMNS = (
    "id",
    "number",
    "service_id",
    "title",
    "status",
    "severity",
    "urgency",
    "dedup_key",
    "source",
    "details",
    "alert_count",
    "escalation_level",
    "escalation_loop",
    "next_due_at",
    "exhausted",
    "policy_id",
    "policy_name",
    "created_at",
    "updated_at",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "snoozed_until",
    "ack_timeout_at",
    "auto_resolve_at",
    "merged_into_id",
)


def _instant(value: datetime | None) -> str | None:
    """A timestamp as the API writes it (`…Z` for UTC)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def incident_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The incident as the API shows it (`IncidentRead` in JSON), built without validation.

    A page carries the same document the API returns; building it directly from the locked row
    keeps model validation and serialisation off the delivery hot path.
    """
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "service_id": str(row["service_id"]),
        "title": row["title"],
        "status": row["status"],
        "severity": row["severity"],
        "urgency": row["urgency"],
        "dedup_key": row["dedup_key"],
        "source": row["source"],
        "details": row["details"],
        "alert_count": row["alert_count"],
        "escalation": {
            "level": row["escalation_level"],
            "loop": row["escalation_loop"],
            "next_due_at": _instant(row["next_due_at"]),
            "exhausted": row["exhausted"],
            "policy_id": _id(row["policy_id"]),
            "policy_name": row["policy_name"] or "",
        },
        "created_at": _instant(row["created_at"]),
        "updated_at": _instant(row["updated_at"]),
        "acknowledged_at": _instant(row["acknowledged_at"]),
        "acknowledged_by": row["acknowledged_by"],
        "resolved_at": _instant(row["resolved_at"]),
        "resolved_by": row["resolved_by"],
        "snoozed_until": _instant(row["snoozed_until"]),
        "ack_timeout_at": _instant(row["ack_timeout_at"]),
        "auto_resolve_at": _instant(row["auto_resolve_at"]),
        "merged_into_id": _id(row["merged_into_id"]),
    }


def document(incident: Incident) -> dict[str, Any]:
    """The document of an incident loaded as an ORM object."""
    row = {name: getattr(incident, name) for name in INCIDENT_COLUMNS if name != "policy_name"}
    row["policy_name"] = (incident.policy_snapshot or {}).get("name", "")
    return incident_document(row)
