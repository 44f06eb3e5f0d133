"""What every inbound integration shares: the key lookup, the rate limit, applying an event."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import jsonsafe
from app.config import Settings
from app.incidents import service as incidents
from app.incidents.schemas import IncidentTrigger
from app.integrations.ratelimit import Verdict, limiter_on
from app.models import OPEN_STATUSES, Incident, IntegrationKey

Action = Literal["trigger", "acknowledge", "resolve"]


class BadPayload(Exception):
    """The body is unusable; `errors` name each offending field."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


@dataclass(frozen=True)
class KeyInfo:
    id: uuid.UUID
    service_id: uuid.UUID
    name: str
    alert_grouping: str

    def actor(self) -> dict[str, Any]:
        """How events sent with this key appear on timelines."""
        return {"type": "integration", "id": str(self.id), "name": self.name}


@dataclass(frozen=True)
class Event:
    action: Action
    dedup_key: str
    trigger: IncidentTrigger | None = None


@dataclass(frozen=True)
class Applied:
    action: Action
    dedup_key: str
    incident_id: uuid.UUID | None
    outcome: Literal["created", "deduplicated", "changed", "unchanged", "dropped"]

    def to_json(self) -> dict[str, Any]:
        """The per-event part of an integration's answer."""
        return {
            "action": self.action,
            "dedup_key": self.dedup_key,
            "incident_id": str(self.incident_id) if self.incident_id else None,
            "outcome": self.outcome,
        }


def read_json(body: bytes) -> Any:
    """The parsed body, or BadPayload naming what breaks `app.jsonsafe`'s rule, and where."""
    try:
        return jsonsafe.loads(body)
    except jsonsafe.UnsafeJson as exc:
        raise BadPayload([(jsonsafe.bracketed(exc.path), exc.message)]) from exc


async def admit(state: Any, key_hash: str) -> Verdict:
    """Take a token from the bucket of the key with this hash (no database read); `state`
    is the application's."""
    settings: Settings = state.settings
    limiter = limiter_on(
        state,
        "ingest_limiter",
        rate_per_second=settings.ingest_rate_per_second,
        burst=settings.ingest_burst,
        namespace="ingest",
    )
    return await limiter.check(key_hash[:32])


async def find_key(session: AsyncSession, key_hash: str) -> KeyInfo | None:
    """The integration key with this hash (`app.security.hash_key`), or None."""
    row = (
        await session.execute(
            select(
                col(IntegrationKey.id),
                col(IntegrationKey.service_id),
                col(IntegrationKey.name),
                col(IntegrationKey.alert_grouping),
            ).where(col(IntegrationKey.key_hash) == key_hash)
        )
    ).first()
    return KeyInfo(*row) if row is not None else None


async def _open_incident(
    session: AsyncSession, service_id: uuid.UUID, dedup_key: str
) -> Incident | None:
    query = (
        select(Incident)
        .where(col(Incident.service_id) == service_id, col(Incident.dedup_key) == dedup_key)
        .where(col(Incident.status).in_(OPEN_STATUSES))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def apply(
    *,
    session: AsyncSession,
    service_id: uuid.UUID,
    event: Event,
    actor: dict[str, Any],
    now: datetime,
) -> Applied:
    """Apply one event with PagerDuty's dedup semantics on `service_id`.

    A trigger opens an incident or adds to the open one with its dedup key; acknowledge and
    resolve act on that open incident, and are accepted and dropped when none is open.
    """
    if event.action == "trigger":
        assert event.trigger is not None
        result = await incidents.trigger(
            session=session, service_id=service_id, data=event.trigger, actor=actor, now=now
        )
        outcome: Any = "created" if result.created else "deduplicated"
        return Applied(event.action, event.dedup_key, result.incident.id, outcome)
    incident = await _open_incident(session, service_id, event.dedup_key)
    if incident is None:
        return Applied(event.action, event.dedup_key, None, "dropped")
    act = incidents.acknowledge if event.action == "acknowledge" else incidents.resolve
    changed = await act(session=session, incident=incident, actor=actor, now=now)
    return Applied(
        event.action, event.dedup_key, incident.id, "changed" if changed else "unchanged"
    )
