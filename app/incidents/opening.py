"""A new incident decided from one trigger: its row and its first timeline entries. Pure."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.escalation import engine
from app.incidents.schemas import IncidentTrigger
from app.routing.matcher import Route
from app.routing.service import ROUTING_ACTOR, route_entries
from app.store.incidents import NewIncident
from app.store.timeline import Entry
from app.vocabulary import PRIORITY_OF_SEVERITY, Status


@dataclass(frozen=True)
class Opening:
    """What opening the incident writes, in the transaction that opens it."""

    id: uuid.UUID
    row: NewIncident
    entries: list[Entry] = field(default_factory=list)

    @property
    def pages(self) -> bool:
        """Whether escalation starts (not suppressed, not in a maintenance window)."""
        return self.row.next_due_at is not None

    @property
    def suppressed(self) -> bool:
        """A routing rule suppressed it: recorded as resolved, nobody paged."""
        return self.row.status == Status.RESOLVED


def open_incident(
    *,
    service_id: uuid.UUID,
    data: IncidentTrigger,
    dedup_key: str,
    route: Route,
    policy_id: uuid.UUID,
    policy_name: str,
    snapshot: dict[str, Any],
    auto_resolve_seconds: int | None,
    actor: dict[str, Any],
    now: datetime,
) -> Opening:
    """The incident row (escalation at level 1 from `now`) and its `triggered` entries."""
    incident_id = uuid.uuid4()
    position = engine.start(now)
    suppressed = route.suppressed
    auto_resolve_at = None
    if auto_resolve_seconds and not suppressed:
        auto_resolve_at = now + timedelta(seconds=auto_resolve_seconds)
    row = NewIncident(
        id=incident_id,
        service_id=service_id,
        title=data.title,
        severity=data.severity.value,
        urgency=route.urgency,
        priority=(data.priority or PRIORITY_OF_SEVERITY[data.severity]).value,
        status=Status.RESOLVED if suppressed else Status.TRIGGERED,
        source=data.source,
        dedup_key=dedup_key,
        details=data.details,
        policy_id=policy_id,
        policy_snapshot=snapshot,
        escalation_level=position.level,
        escalation_loop=position.loop,
        next_due_at=position.due_at if route.pages else None,
        auto_resolve_at=auto_resolve_at,
        resolved_at=now if suppressed else None,
        resolved_by=ROUTING_ACTOR if suppressed else None,
        created_at=now,
    )
    triggered = Entry(
        incident_id,
        "triggered",
        now,
        actor,
        {
            "title": data.title,
            "severity": data.severity.value,
            "source": data.source,
            "policy": policy_name,
        },
    )
    routed = route_entries(incident_id=incident_id, route=route, at=now)
    entries = [triggered, *(Entry(**entry) for entry in routed)]
    return Opening(incident_id, row, entries)


def deduplicated_entry(
    *, incident_id: uuid.UUID, title: str, source: str, actor: dict[str, Any], now: datetime
) -> Entry:
    """The timeline entry of one more alert on an open incident."""
    return Entry(incident_id, "deduplicated", now, actor, {"title": title, "source": source})
