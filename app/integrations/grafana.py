"""Grafana alerting's webhook contact point: Alertmanager's payload plus Grafana's own fields."""

from typing import Any

from app.integrations import alertmanager
from app.integrations.ingest import Event, Received

# Kept in the incident details when present (per alert, or for the whole notification).
EXTRA_FIELDS: alertmanager.Fields = {
    "values": dict,
    "valueString": str,
    "dashboardURL": str,
    "panelURL": str,
    "silenceURL": str,
    "imageURL": str,
    "orgId": int,
    "title": str,
    "state": str,
    "message": str,
}


def parse(body: Any, received: Received) -> list[Event]:
    """The source's parser: the events a Grafana webhook notification stands for."""
    return alertmanager.events(
        body, grouping=received.grouping, source="grafana", extra=EXTRA_FIELDS
    )
