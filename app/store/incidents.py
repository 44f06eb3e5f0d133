"""The incidents table of the escalation context: inserting incidents, locking them, reading
their escalation state, moving them and fencing their step jobs.

Every change of an incident's escalation position goes through `place` (one incident, through
the ORM) or `write_positions` (a batch of steps, one statement); both void the step jobs armed
for the old position with `fenced`. Every new incident goes through `insert_incidents`.
"""

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, Uuid, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import driver_connection
from app.escalation.engine import Position
from app.escalation.snapshot import PolicySnapshot
from app.models import OPEN_STATUSES, Incident
from app.vocabulary import Status


def fenced(token: int) -> int:
    """The step token after a change: a step job armed with an older one does nothing."""
    return token + 1


@dataclass(frozen=True, slots=True)
class NewIncident:
    """A new incident's row as `insert_incidents` writes it (the counters start at their zeros)."""

    id: uuid.UUID
    service_id: uuid.UUID
    title: str
    severity: str
    urgency: str
    priority: str
    status: Status
    source: str
    dedup_key: str
    details: dict[str, Any]
    policy_id: uuid.UUID
    policy_snapshot: dict[str, Any]
    escalation_level: int
    escalation_loop: int
    next_due_at: datetime | None
    auto_resolve_at: datetime | None
    resolved_at: datetime | None
    resolved_by: dict[str, Any] | None
    created_at: datetime


# The new incidents, numbered in the order given, one statement whatever their count (a VALUES
# list per batch size would be a new prepared statement for each size). A key another trigger
# opened meanwhile is skipped; RETURNING tells.
_INSERT = """
INSERT INTO incidents (id, service_id, title, severity, urgency, priority, status, source,
  dedup_key, details, alert_count, policy_id, policy_snapshot, escalation_level, escalation_loop,
  next_due_at, step_token, exhausted, escalation_epoch, max_level_reached, auto_resolve_at,
  first_acknowledged_by, acknowledged_by, resolved_at, resolved_by, created_at, updated_at)
SELECT r.id, r.service_id, r.title, r.severity, r.urgency, r.priority, r.status, r.source,
  r.dedup_key, r.details::jsonb, 1, r.policy_id, r.policy_snapshot::jsonb, r.level, r.loop,
  r.next_due_at, 0, false, 0, 0, r.auto_resolve_at,
  'null', 'null', r.resolved_at, COALESCE(r.resolved_by, 'null')::jsonb, r.at, r.at
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
  $8::text[], $9::text[], $10::uuid[], $11::text[], $12::int[], $13::int[],
  $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::text[], $18::timestamptz[],
  $19::text[])
  WITH ORDINALITY AS r(id, service_id, title, severity, urgency, status, source, dedup_key,
  details, policy_id, policy_snapshot, level, loop, next_due_at, auto_resolve_at, resolved_at,
  resolved_by, at, priority, n)
ORDER BY r.n
ON CONFLICT (service_id, dedup_key) WHERE status IN ('triggered', 'acknowledged') DO NOTHING
RETURNING id
"""


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


async def insert_incidents(session: AsyncSession, rows: Sequence[NewIncident]) -> int:
    """Insert new incident rows (`app.incidents.opening`); how many were inserted."""
    # Incidents of one policy share its snapshot: encoded once per distinct snapshot object.
    snapshots = {id(r.policy_snapshot): json.dumps(r.policy_snapshot) for r in rows}
    columns: list[list[Any]] = [
        [r.id for r in rows],
        [r.service_id for r in rows],
        [r.title for r in rows],
        [r.severity for r in rows],
        [r.urgency for r in rows],
        [r.status for r in rows],
        [r.source for r in rows],
        [r.dedup_key for r in rows],
        [json.dumps(r.details) for r in rows],
        [r.policy_id for r in rows],
        [snapshots[id(r.policy_snapshot)] for r in rows],
        [r.escalation_level for r in rows],
        [r.escalation_loop for r in rows],
        [r.next_due_at for r in rows],
        [r.auto_resolve_at for r in rows],
        [r.resolved_at for r in rows],
        [_json_or_none(r.resolved_by) for r in rows],
        [r.created_at for r in rows],
        [r.priority for r in rows],
    ]
    inserted = await (await driver_connection(session)).fetch(_INSERT, *columns)
    return len(inserted)


async def add_alert(
    session: AsyncSession, *, service_id: uuid.UUID, dedup_key: str, now: datetime
) -> uuid.UUID | None:
    """Count one more alert on the service's open incident with this dedup key; its id."""
    query = (
        update(Incident)
        .where(col(Incident.service_id) == service_id, col(Incident.dedup_key) == dedup_key)
        .where(col(Incident.status).in_(OPEN_STATUSES))
        .values(alert_count=col(Incident.alert_count) + 1, updated_at=now)
        .returning(col(Incident.id))
    )
    return (await session.execute(query)).scalar_one_or_none()


_INCIDENTS = Incident.__table__  # type: ignore[attr-defined]
_ADD_ALERTS = (
    update(_INCIDENTS)
    .where(_INCIDENTS.c.id == bindparam("incident_id"))
    .values(alert_count=_INCIDENTS.c.alert_count + bindparam("alerts"), updated_at=bindparam("at"))
)


async def add_alerts(
    session: AsyncSession,
    alerts: Mapping[uuid.UUID, int],
    *,
    last_alert_at: Mapping[uuid.UUID, datetime],
) -> None:
    """Count more alerts on these open incidents, one statement for the lot."""
    if not alerts:
        return
    await session.execute(
        _ADD_ALERTS,
        [
            {"incident_id": i, "alerts": n, "at": last_alert_at[i]}
            for i, n in sorted(alerts.items())
        ],
    )


def _array(name: str, values: set[Any], item: Any) -> Any:
    return bindparam(name, list(values), type_=ARRAY(item))


async def lock_open_by_key(
    session: AsyncSession, keys: set[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """The open incidents of these (service, dedup key) pairs, locked in id order."""
    # Two arrays rather than a list of pairs: one cached statement whatever the batch size.
    rows = await session.execute(
        select(col(Incident.id), col(Incident.service_id), col(Incident.dedup_key))
        .where(col(Incident.service_id) == any_(_array("service_ids", {s for s, _ in keys}, Uuid)))
        .where(col(Incident.dedup_key) == any_(_array("dedup_keys", {k for _, k in keys}, String)))
        .where(col(Incident.status).in_(OPEN_STATUSES))
        .order_by(col(Incident.id))
        .with_for_update()
    )
    found = {(service_id, key): incident_id for incident_id, service_id, key in rows}
    return {pair: incident_id for pair, incident_id in found.items() if pair in keys}


async def read_incidents(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Incident]:
    """These incidents, in id order."""
    query = select(Incident).where(col(Incident.id).in_(ids)).order_by(col(Incident.id))
    return list((await session.scalars(query)).all())


async def lock_incidents(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Incident]:
    """These incident rows, locked in id order (so overlapping lockers never deadlock)."""
    rows = await session.scalars(
        select(Incident)
        .where(col(Incident.id).in_(ids))
        .order_by(col(Incident.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def get_incident(
    session: AsyncSession, incident_id: uuid.UUID, *, fresh: bool = False
) -> Incident | None:
    """The incident by id, from the session's identity map if it is there; `fresh` reloads it."""
    if fresh:
        return await session.get(Incident, incident_id, populate_existing=True)
    return await session.get(Incident, incident_id)


async def lock_incident(session: AsyncSession, incident_id: uuid.UUID) -> Incident | None:
    """The incident row, locked for update."""
    return await session.get(Incident, incident_id, with_for_update=True, populate_existing=True)


def place(incident: Incident, position: Position, *, now: datetime) -> None:
    """Move the (locked) incident to `position`; the step jobs armed before are void."""
    incident.escalation_level, incident.escalation_loop = position.level, position.loop
    incident.level_entered_at, incident.next_due_at = position.entered_at, position.due_at
    incident.step_token = fenced(incident.step_token)
    incident.updated_at = now


def stop(incident: Incident, *, now: datetime) -> None:
    """No step is due any more (acknowledged, snoozed, resolved): the armed ones are void."""
    incident.next_due_at = None
    incident.step_token = fenced(incident.step_token)
    incident.updated_at = now


@dataclass(frozen=True, slots=True)
class State:
    """A locked incident's escalation state: what a step reads."""

    id: uuid.UUID
    status: str
    urgency: str
    policy: PolicySnapshot
    level: int
    loop: int
    entered_at: datetime | None
    due_at: datetime | None
    token: int
    epoch: int
    max_level: int
    exhausted: bool
    # The policy snapshot as stored (claimed rows): steps of one snapshot share their plans.
    snapshot_text: str = ""


@functools.lru_cache(maxsize=512)
def parsed_policy(snapshot: str) -> PolicySnapshot:
    # Incidents of one policy version share the same snapshot text: parse it once.
    return PolicySnapshot.from_json(json.loads(snapshot))


def _state(row: Mapping[str, Any]) -> State:
    record = dict(row)
    return State(policy=parsed_policy(record["snapshot_text"]), **record)


def state_of(incident: Incident) -> State:
    """The escalation state of an incident loaded as an ORM object."""
    return State(
        id=incident.id,
        status=incident.status,
        urgency=incident.urgency,
        policy=PolicySnapshot.from_json(incident.policy_snapshot),
        level=incident.escalation_level,
        loop=incident.escalation_loop,
        entered_at=incident.level_entered_at,
        due_at=incident.next_due_at,
        token=incident.step_token,
        epoch=incident.escalation_epoch,
        max_level=incident.max_level_reached,
        exhausted=incident.exhausted,
    )


_STATE = """
SELECT id, status, urgency, policy_snapshot::text AS snapshot_text, escalation_level AS level,
  escalation_loop AS loop, level_entered_at AS entered_at, next_due_at AS due_at,
  step_token AS token, escalation_epoch AS epoch, max_level_reached AS max_level, exhausted
FROM incidents
"""
# Oldest due first; rows another transaction holds are skipped, never waited for.
_CLAIM = (
    _STATE
    + """WHERE next_due_at <= $1 AND status <> 'resolved'
ORDER BY next_due_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
)
_LOCK_ONE = _STATE + "WHERE id = $1 FOR UPDATE"
# The earliest pending step: due already if another transaction holds it locked.
_NEXT = (
    "SELECT min(next_due_at) FROM incidents WHERE next_due_at IS NOT NULL AND status <> 'resolved'"
)


async def pending_steps(
    session: AsyncSession, *, before: datetime | None, limit: int
) -> list[datetime]:
    """The due times of open incidents' next steps (before `before`, if given), soonest first."""
    query = select(col(Incident.next_due_at)).where(
        col(Incident.next_due_at).is_not(None), col(Incident.status) != Status.RESOLVED
    )
    if before is not None:
        query = query.where(col(Incident.next_due_at) < before)
    due = await session.scalars(query.order_by(col(Incident.next_due_at)).limit(limit))
    return [due_at for due_at in due if due_at is not None]


async def claim_due(session: AsyncSession, *, cutoff: datetime, limit: int) -> list[State]:
    """Lock up to `limit` open incidents whose step is due by `cutoff`, oldest due first."""
    rows = await (await driver_connection(session)).fetch(_CLAIM, cutoff, limit)
    return [_state(row) for row in rows]


async def lock_state(session: AsyncSession, incident_id: uuid.UUID) -> State | None:
    """One incident's escalation state, locked for update (None: no such incident)."""
    row = await (await driver_connection(session)).fetchrow(_LOCK_ONE, incident_id)
    return None if row is None else _state(row)


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest step still pending (None: none is)."""
    due: datetime | None = await (await driver_connection(session)).fetchval(_NEXT)
    return due


@dataclass(frozen=True, slots=True)
class Moved:
    """Where a step left one incident."""

    state: State
    position: Position
    max_level: int
    exhausted: bool


_UPDATE = """
UPDATE incidents i SET escalation_level = u.level, escalation_loop = u.loop,
  level_entered_at = u.entered_at, next_due_at = u.due_at, step_token = u.token,
  max_level_reached = u.max_level, exhausted = u.exhausted, updated_at = $9
FROM unnest($1::uuid[], $2::int[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::int[],
  $7::int[], $8::bool[]) AS u(id, level, loop, entered_at, due_at, token, max_level, exhausted)
WHERE i.id = u.id
"""


async def write_positions(session: AsyncSession, moves: Sequence[Moved], *, now: datetime) -> None:
    """Write where a batch of steps left their (locked) incidents, in one statement."""
    await (await driver_connection(session)).execute(
        _UPDATE,
        [m.state.id for m in moves],
        [m.position.level for m in moves],
        [m.position.loop for m in moves],
        [m.position.entered_at for m in moves],
        [m.position.due_at for m in moves],
        [fenced(m.state.token) for m in moves],
        [m.max_level for m in moves],
        [m.exhausted for m in moves],
        now,
    )


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns an incident's service: its team (None: global) and the caller's role in it."""

    team_id: uuid.UUID | None
    role: str | None


_OWNER = """
SELECT s.team_id, m.role
FROM incidents AS i
LEFT JOIN services AS s ON s.id = i.service_id
LEFT JOIN team_members AS m ON m.team_id = s.team_id AND m.user_id = $2
WHERE i.id = $1
"""


async def incident_owner(
    session: AsyncSession, incident_id: uuid.UUID, user_id: uuid.UUID | None
) -> Owner | None:
    """The team owning the incident's service and `user_id`'s role in it (None: no incident)."""
    row = await (await driver_connection(session)).fetchrow(_OWNER, incident_id, user_id)
    return None if row is None else Owner(row[0], row[1])
