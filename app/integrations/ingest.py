"""What every inbound source shares at the door: the event, the key lookup, the rate limit."""

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import jsonsafe
from app.config import Settings
from app.incidents.schemas import IncidentTrigger
from app.models import Incident, IntegrationKey
from app.ratelimit import Verdict, limiter_on

Action = Literal["trigger", "acknowledge", "resolve", "note"]
Outcome = Literal["created", "deduplicated", "changed", "unchanged", "dropped", "queued"]


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
    """What a parser makes of a body: one thing to do to the incident of `dedup_key` (or, when
    the sender named it, to the incident `incident_id`)."""

    action: Action
    dedup_key: str
    trigger: IncidentTrigger | None = None
    incident_id: uuid.UUID | None = None
    note: str | None = None  # the text of a `note` event
    # The sender's handle on this event, to ask later how it went (`app/integrations/receipts.py`).
    request_id: uuid.UUID | None = None

    def fields(self) -> dict[str, Any]:
        """The event's fields as the inbox keeps them (a trigger's, or the target and note)."""
        if self.trigger is not None:
            return self.trigger.model_dump(mode="json", exclude={"service_id"})
        fields = {"incident_id": str(self.incident_id) if self.incident_id else None}
        return {k: v for k, v in {**fields, "note": self.note}.items() if v}


@dataclass(frozen=True, slots=True)
class Target:
    """An incident a sender named (by id or number), or the dedup key it named."""

    incident_id: uuid.UUID | None
    dedup_key: str


@dataclass(frozen=True, slots=True)
class Received:
    """What a parser knows besides the body."""

    grouping: str = "group"  # the integration key's alert grouping (group or alert)
    body_bytes: int | None = None  # size of the raw body, when the body was read from one
    operation: str = "create"  # what the sender's route asks (Opsgenie: create, close, ...)
    target: Target | None = None  # the alert the route named (Opsgenie identifiers)
    request_id: uuid.UUID | None = None  # the sender's handle on the events (Opsgenie)


@dataclass(frozen=True)
class Applied:
    action: Action
    dedup_key: str
    incident_id: uuid.UUID | None
    outcome: Outcome
    incident: Incident | None = field(default=None, compare=False, repr=False)

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
