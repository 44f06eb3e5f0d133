"""Grafana alerting's webhook contact point: Alertmanager's payload plus Grafana's own fields."""

from typing import Any

from app.integrations import alertmanager
from app.integrations.ingest import Event

# Kept in the incident details when present (per alert, or for the whole notification).
EXTRA_FIELDS = (
    "values",
    "valueString",
    "dashboardURL",
    "panelURL",
    "silenceURL",
    "imageURL",
    "orgId",
    "title",
    "state",
    "message",
)


def events(body: Any, *, grouping: str) -> list[Event]:
    """The events a Grafana webhook notification stands for."""
    return alertmanager.events(body, grouping=grouping, source="grafana", extra=EXTRA_FIELDS)
