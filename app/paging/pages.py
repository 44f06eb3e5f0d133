"""Rendering claimed outbox rows into provider pages, sharing per-incident work within a batch."""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.notify.base import Page
from app.notify.links import action_links

# The columns `incident_document` reads, in the order the claim query selects them.
INCIDENT_COLUMNS = (
    "id",
    "number",
    "service_id",
    "title",
    "status",
    "severity",
    "urgency",
    "priority",
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
        "priority": row["priority"],
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


class PageRenderer:
    """Builds the pages of one batch; the incident document and action links are made once each."""

    def __init__(
        self, *, link_secret: str, public_url: str, link_ttl_seconds: int, now: datetime
    ) -> None:
        self.link_secret = link_secret
        self.public_url = public_url
        self.link_ttl_seconds = link_ttl_seconds
        self.now = now
        self._documents: dict[uuid.UUID, dict[str, Any]] = {}
        self._links: dict[tuple[uuid.UUID, uuid.UUID], dict[str, str]] = {}

    def _action_links(self, incident_id: uuid.UUID, user_id: uuid.UUID) -> dict[str, str]:
        links = self._links.get((incident_id, user_id))
        if links is None:
            links = self._links[incident_id, user_id] = action_links(
                secret=self.link_secret,
                public_url=self.public_url,
                incident_id=incident_id,
                user_id=user_id,
                now=self.now.timestamp(),
                ttl_seconds=self.link_ttl_seconds,
            )
        return links

    def page(self, row: Mapping[str, Any], incident: Mapping[str, Any], *, attempt: int) -> Page:
        """The page of one claimed outbox row of `incident`."""
        incident_id: uuid.UUID = incident["id"]
        document = self._documents.get(incident_id)
        if document is None:
            document = self._documents[incident_id] = incident_document(incident)
        user_id: uuid.UUID | None = row["user_id"]
        # Only a person can act from a page: a page to no one (a policy's webhook target)
        # carries no action links.
        links = {} if user_id is None else self._action_links(incident_id, user_id)
        user = None if user_id is None else {"id": str(user_id), "name": row["user_name"] or ""}
        return Page(
            notification_id=str(row["id"]),
            idempotency_key=row["idempotency_key"],
            channel=row["channel"],
            address=row["address"],
            attempt=attempt,
            incident=document,
            level=row["level"],
            loop=row["loop"],
            user=user,
            actions=links,
            signing_secret=row["signing_secret"] or self.link_secret,
        )
