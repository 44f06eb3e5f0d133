"""The heartbeat source: what a missed deadline or the ping after it means for the incident."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.incidents.schemas import IncidentTrigger
from app.integrations.ingest import Event, Received
from app.models import Heartbeat
from app.vocabulary import Severity


@dataclass(frozen=True, slots=True)
class Signal:
    """A heartbeat that missed its deadline, or was pinged again after missing it."""

    kind: Literal["missed", "recovered"]
    heartbeat: Heartbeat


def dedup_key(heartbeat: Heartbeat) -> str:
    """The dedup key of a heartbeat's incident: one open incident per heartbeat."""
    return f"heartbeat:{heartbeat.id}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def events(body: Any, received: Received) -> list[Event]:
    """The source's parser: a miss triggers the heartbeat's incident, a recovery resolves it."""
    assert isinstance(body, Signal)
    heartbeat = body.heartbeat
    key = dedup_key(heartbeat)
    if body.kind == "recovered":
        return [Event("resolve", key)]
    trigger = IncidentTrigger(
        title=f"Heartbeat {heartbeat.name!r} missed: no ping within {heartbeat.interval_seconds}s",
        severity=Severity.CRITICAL,
        dedup_key=key,
        source="heartbeat",
        details={
            "heartbeat_id": str(heartbeat.id),
            "name": heartbeat.name,
            "interval_seconds": heartbeat.interval_seconds,
            "last_ping_at": _iso(heartbeat.last_ping_at),
            "due_at": _iso(heartbeat.due_at),
        },
    )
    return [Event("trigger", key, trigger)]
