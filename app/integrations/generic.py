"""The generic source: `POST /api/v1/incidents`, whose body is already an IncidentTrigger."""

import uuid
from typing import Any

from app.incidents.schemas import IncidentTrigger
from app.integrations.ingest import Event, Received


def events(body: Any, received: Received) -> list[Event]:
    """The source's parser: one trigger, with a dedup key generated when the sender gave none."""
    assert isinstance(body, IncidentTrigger)  # FastAPI validated the request body into one
    key = body.dedup_key or uuid.uuid4().hex
    return [Event("trigger", key, body.model_copy(update={"dedup_key": key}))]
