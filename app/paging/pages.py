"""Rendering claimed outbox rows into provider pages, sharing per-incident work within a batch."""

import uuid
from datetime import datetime
from typing import Any

from app.notify.base import Page
from app.notify.links import action_links
from app.store.documents import IncidentRow, incident_document
from app.store.outbox import ClaimedPage


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

    def page(self, row: ClaimedPage, incident: IncidentRow, *, attempt: int) -> Page:
        """The page of one claimed outbox row of `incident`."""
        incident_id = incident.id
        document = self._documents.get(incident_id)
        if document is None:
            document = self._documents[incident_id] = incident_document(incident)
        user_id = row.user_id
        # Only a person can act from a page: a page to no one (a policy's webhook target)
        # carries no action links.
        links = {} if user_id is None else self._action_links(incident_id, user_id)
        user = None if user_id is None else {"id": str(user_id), "name": row.user_name or ""}
        return Page(
            notification_id=str(row.id),
            idempotency_key=row.idempotency_key,
            channel=row.channel,
            address=row.address,
            attempt=attempt,
            incident=document,
            level=row.level,
            loop=row.loop,
            user=user,
            actions=links,
            signing_secret=row.signing_secret or self.link_secret,
        )
