"""The acknowledgement's writes to the incidents table: lock the row with what acknowledging
reads, then write it once (`app.incidents.service.acknowledge_by_id`)."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection
from app.escalation.snapshot import PolicySnapshot
from app.store import outbox
from app.store.documents import INCIDENT_COLUMNS, IncidentRow
from app.store.incidents import Owner, parsed_policy
from app.store.timeline import CancelledPage


@dataclass(frozen=True, slots=True)
class AckTarget:
    """A locked incident as an acknowledgement reads it: its service's ack timeout, and who
    owns it (the team, and the acknowledging user's role in it) for the permission check."""

    id: uuid.UUID
    number: int
    status: str
    level: int
    snapshot_text: str
    ack_timeout_seconds: int | None
    owner: Owner

    @property
    def policy(self) -> PolicySnapshot:
        return parsed_policy(self.snapshot_text)


_LOCK_FOR_ACK = """
SELECT i.id, i.number, i.status, i.escalation_level AS level,
  i.policy_snapshot::text AS snapshot_text, s.ack_timeout_seconds, s.team_id, m.role
FROM incidents AS i LEFT JOIN services AS s ON s.id = i.service_id
LEFT JOIN team_members AS m ON m.team_id = s.team_id AND m.user_id = $2
WHERE i.id = $1
FOR UPDATE OF i
"""


async def lock_for_ack(
    session: AsyncSession, incident_id: uuid.UUID, user_id: uuid.UUID | None
) -> AckTarget | None:
    """The incident row locked for update, as an acknowledgement by `user_id` reads it (None:
    no such incident)."""
    row = await (await driver_connection(session)).fetchrow(_LOCK_FOR_ACK, incident_id, user_id)
    if row is None:
        return None
    return AckTarget(
        row["id"],
        row["number"],
        row["status"],
        row["level"],
        row["snapshot_text"],
        row["ack_timeout_seconds"],
        Owner(row["team_id"], row["role"]),
    )


_RETURNED = ", ".join(
    "policy_snapshot->>'name' AS policy_name" if name == "policy_name" else name
    for name in INCIDENT_COLUMNS
)

# The acknowledgement, one write of the locked row: the first response is kept (reports), the
# step token is fenced when the level stops escalating ($6), the armed step jobs void; in the
# same statement, the pending pages of the levels that escalate only while unacknowledged are
# cancelled (the outbox's statement).
_ACKNOWLEDGE = f"""
WITH {outbox.CANCEL_UNACKNOWLEDGED}
UPDATE incidents SET status = $2, acknowledged_at = $3, acknowledged_by = $4::jsonb,
  updated_at = $3, snoozed_until = NULL, ack_timeout_at = $5,
  first_acknowledged_at = COALESCE(first_acknowledged_at, $3),
  first_acknowledged_by = CASE WHEN first_acknowledged_at IS NULL THEN $4::jsonb
    ELSE first_acknowledged_by END,
  next_due_at = CASE WHEN $6 THEN NULL ELSE next_due_at END,
  step_token = CASE WHEN $6 THEN step_token + 1 ELSE step_token END
WHERE id = $1
RETURNING {_RETURNED}, first_acknowledged_at, first_acknowledged_by, step_token,
  {outbox.CANCELLED} AS cancelled
"""


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The incident as an acknowledgement left it: its document's columns and the rest written."""

    row: IncidentRow
    first_acknowledged_at: datetime | None
    first_acknowledged_by: dict[str, Any] | None
    step_token: int
    cancelled: list[CancelledPage]


async def write_acknowledgement(
    session: AsyncSession,
    incident_id: uuid.UUID,
    *,
    status: str,
    actor: dict[str, Any],
    now: datetime,
    ack_timeout_at: datetime | None,
    stop_steps: bool,
) -> Acknowledged:
    """Acknowledge the (locked) incident and cancel its pending pages of the levels that
    escalate only while unacknowledged; with `stop_steps` no step is due any more (`stop`)."""
    record = dict(
        await (await driver_connection(session)).fetchrow(
            _ACKNOWLEDGE, incident_id, status, now, json.dumps(actor), ack_timeout_at, stop_steps
        )
    )
    first_at = record.pop("first_acknowledged_at")
    first_by = record.pop("first_acknowledged_by")
    token = record.pop("step_token")
    cancelled = outbox.cancelled_pages(record.pop("cancelled"))
    return Acknowledged(IncidentRow(**record), first_at, first_by, token, cancelled)
