"""The outbox of pages (notifications): writing the pages a step decides, claiming due ones in
batches and writing their outcomes back, a few statements per batch, and cancelling pages.

Lock order is incident → notification, as everywhere else (an acknowledgement locks its incident
FOR UPDATE, then cancels the pending pages): the incidents of the due pages are share-locked
first, then their due pages are locked. Every lock is taken with SKIP LOCKED, so a deliverer
never waits for a lock (and can never be part of a deadlock, whatever order others lock many
incidents in); what it skipped is claimed again shortly (`left_behind`).
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import driver_connection
from app.models import Notification
from app.store import timeline
from app.store.documents import INCIDENT_COLUMNS, IncidentRow

_INCIDENT_SELECT = ", ".join(
    "i.policy_snapshot->>'name' AS policy_name" if name == "policy_name" else f"i.{name}"
    for name in INCIDENT_COLUMNS
)

# The first `limit` due pages no other deliverer holds, locked, whose incidents could be
# share-locked, in one statement: the candidates are taken FOR KEY SHARE (skipping pages another
# deliverer holds FOR UPDATE, yet never blocking an ack's cancelling UPDATE), their incidents
# FOR SHARE SKIP LOCKED (an incident an ack holds FOR UPDATE is skipped, not waited for), then
# the pages themselves FOR UPDATE. Two deliverers that pick the same candidates at the same
# instant both skip them (each holds KEY SHARE on the other's); doing it all in one statement
# keeps that window to one statement's run.
# The last step looks the candidates up by id and nothing else: with a condition on due pages
# the planner may scan every due page (and join each to its user) whenever the statistics
# say few are pending, as they do early in an alert storm, making each claim cost the whole
# backlog. A page cancelled between the two locks comes back with its new status (`claim`
# drops it).
_LOCK = """
WITH candidates AS (
    SELECT n.id, n.incident_id FROM notifications AS n
    WHERE n.status = 'pending' AND n.due_at <= $1
    ORDER BY n.due_at
    LIMIT $2
    FOR KEY SHARE OF n SKIP LOCKED
), held AS (
    SELECT i.id FROM incidents AS i
    WHERE i.id IN (SELECT incident_id FROM candidates)
    ORDER BY i.id
    FOR SHARE OF i SKIP LOCKED
)
SELECT n.id, n.incident_id, n.level, n.loop, n.condition, n.target_type, n.user_id, n.channel,
       n.address, n.idempotency_key, n.attempts, n.created_at, n.status, n.due_at,
       u.name AS user_name, cm.signing_secret
FROM candidates AS c
JOIN notifications AS n ON n.id = c.id
LEFT JOIN users AS u ON u.id = n.user_id
LEFT JOIN contact_methods AS cm ON cm.id = n.contact_method_id
WHERE n.incident_id IN (SELECT id FROM held)
ORDER BY n.due_at
FOR UPDATE OF n SKIP LOCKED
"""

# The claimed pages' incidents, already share-locked by the claim.
_INCIDENTS = f"""
SELECT {_INCIDENT_SELECT}
FROM incidents AS i
WHERE i.id = ANY($1::uuid[])
"""

# Due pages this batch did not take: held by another deliverer, or their incident was locked.
_LEFT_BEHIND = """
SELECT EXISTS (
    SELECT 1 FROM notifications AS n
    WHERE n.status = 'pending' AND n.due_at <= $1
)
"""

_SETTLE = """
UPDATE notifications AS n
SET status = v.status,
    attempts = v.attempts,
    due_at = COALESCE(v.due_at, n.due_at),
    sent_at = COALESCE(v.sent_at, n.sent_at),
    last_error = COALESCE(v.last_error, n.last_error)
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[])
     AS v(id, status, attempts, due_at, sent_at, last_error)
WHERE n.id = v.id
"""


@dataclass(frozen=True, slots=True)
class ClaimedPage:
    """One locked due page, with what sending it needs of its user and contact method."""

    id: uuid.UUID
    incident_id: uuid.UUID
    level: int
    loop: int
    condition: str
    target_type: str
    user_id: uuid.UUID | None
    channel: str
    address: str
    idempotency_key: str
    attempts: int
    created_at: datetime
    status: str
    due_at: datetime
    user_name: str | None
    signing_secret: str | None


@dataclass(frozen=True)
class Claim:
    """The locked incidents (by id) and the locked due pages of one batch, soonest first."""

    incidents: dict[uuid.UUID, IncidentRow]
    pages: list[ClaimedPage]


@dataclass(frozen=True)
class RowUpdate:
    notification_id: uuid.UUID
    status: str
    attempts: int
    due_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class NewPage:
    """A page a step decided, to write to the outbox."""

    id: uuid.UUID
    incident_id: uuid.UUID
    level: int
    loop: int
    condition: str
    target_type: str
    user_id: uuid.UUID | None
    contact_method_id: uuid.UUID | None
    channel: str
    address: str
    idempotency_key: str
    due_at: datetime


# The idempotency key makes a retried step's pages conflict: they are not written twice.
_INSERT_PAGES = """
INSERT INTO notifications (id, incident_id, level, loop, condition, target_type, user_id,
  contact_method_id, channel, address, idempotency_key, due_at, status, attempts, created_at)
SELECT p.*, 'pending', 0, $13
FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[], $5::text[], $6::text[], $7::uuid[],
  $8::uuid[], $9::text[], $10::text[], $11::text[], $12::timestamptz[]) AS p
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING due_at
"""


async def insert_pages(
    session: AsyncSession, pages: Sequence[NewPage], *, created_at: datetime
) -> list[datetime]:
    """Write the pages in one statement; the due times of those written (not retried ones)."""
    if not pages:
        return []
    columns = [[getattr(page, f.name) for page in pages] for f in fields(NewPage)]
    written = await _run(session, _INSERT_PAGES, *columns, created_at)
    return [row["due_at"] for row in written]


async def _run(session: AsyncSession, sql: str, *params: Any) -> Sequence[Any]:
    connection = await driver_connection(session)
    rows: Sequence[Any] = await connection.fetch(sql, *params)
    return rows


async def claim(session: AsyncSession, *, cutoff: datetime, limit: int) -> Claim:
    """Lock up to `limit` pending pages due by `cutoff`, and their incidents."""
    # The query selects ClaimedPage's fields in order.
    locked = [ClaimedPage(*row) for row in await _run(session, _LOCK, cutoff, limit)]
    pages = [page for page in locked if page.status == "pending" and page.due_at <= cutoff]
    if not pages:
        return Claim({}, [])
    ids = list({page.incident_id for page in pages})
    # The query selects IncidentRow's fields in order (by position: a third of the CPU of
    # passing the record's columns by name).
    incidents = [IncidentRow(*row) for row in await _run(session, _INCIDENTS, ids)]
    return Claim({incident.id: incident for incident in incidents}, pages)


async def left_behind(session: AsyncSession, *, cutoff: datetime) -> bool:
    """Whether pending pages due by `cutoff` remain that this transaction has not settled."""
    [row] = await _run(session, _LEFT_BEHIND, cutoff)
    return bool(row["exists"])


async def settle(
    session: AsyncSession,
    *,
    updates: Sequence[RowUpdate],
    entries: Sequence[timeline.Entry],
) -> None:
    """Write every page's new state in one statement and every timeline entry in another."""
    if updates:
        await _run(
            session,
            _SETTLE,
            [u.notification_id for u in updates],
            [u.status for u in updates],
            [u.attempts for u in updates],
            [u.due_at for u in updates],
            [u.sent_at for u in updates],
            [u.last_error for u in updates],
        )
    await timeline.append(session, entries)


async def pending_pages(
    session: AsyncSession, *, before: datetime | None, limit: int
) -> list[datetime]:
    """The due times of pending pages (before `before`, if given), soonest first."""
    query = select(col(Notification.due_at)).where(col(Notification.status) == "pending")
    if before is not None:
        query = query.where(col(Notification.due_at) < before)
    return list(await session.scalars(query.order_by(col(Notification.due_at)).limit(limit)))


async def statuses_at(
    session: AsyncSession, incident_id: uuid.UUID, *, level: int, loop: int
) -> set[str]:
    """The statuses of the incident's pages at one level and loop."""
    query = select(col(Notification.status)).where(
        col(Notification.incident_id) == incident_id,
        col(Notification.level) == level,
        col(Notification.loop) == loop,
    )
    return set((await session.scalars(query)).all())


_CANCEL = """
UPDATE notifications SET status = 'cancelled'
WHERE incident_id = $1 AND status = 'pending' AND {which}
RETURNING id, incident_id, user_id, level, loop, channel
"""
_CANCEL_PENDING = _CANCEL.format(which="(NOT $2 OR condition = 'unacknowledged')")

# An acknowledgement's cancel, as a data-modifying CTE (`cancelled`) of the statement that
# writes the incident ($1, locked before that statement): the pending pages of the levels
# that escalate only while unacknowledged. `CANCELLED` is the column that returns them, for
# `cancelled_pages`.
_UNACKNOWLEDGED_ONLY = "condition = 'unacknowledged'"
CANCEL_UNACKNOWLEDGED = f"cancelled AS ({_CANCEL.format(which=_UNACKNOWLEDGED_ONLY)})"
CANCELLED = "(SELECT COALESCE(json_agg(c), '[]') FROM cancelled AS c)"


def cancelled_pages(value: list[dict[str, Any]]) -> list[timeline.CancelledPage]:
    """The pages in a `CANCELLED` column, in the order they were cancelled."""
    return [
        timeline.CancelledPage(
            uuid.UUID(page["id"]),
            uuid.UUID(page["incident_id"]),
            uuid.UUID(page["user_id"]) if page["user_id"] else None,
            page["level"],
            page["loop"],
            page["channel"],
        )
        for page in value
    ]


async def cancel_pending(
    session: AsyncSession,
    incident_id: uuid.UUID,
    *,
    only_unacknowledged: bool,
    at: datetime,
    reason: str,
) -> list[timeline.Entry]:
    """Cancel the incident's pending pages; one `notification_cancelled` row each, to record
    on the timeline after the change that cancelled them."""
    conn = await driver_connection(session)
    rows = await conn.fetch(_CANCEL_PENDING, incident_id, only_unacknowledged)
    pages = [timeline.CancelledPage(**row) for row in rows]
    return [timeline.cancelled_page(page, at=at, reason=reason) for page in pages]


# Lock order incident → notification, as an acknowledgement takes it; ids in order.
_LOCK_INCIDENTS_PAGING = """
SELECT i.id FROM incidents AS i
WHERE i.id IN (SELECT incident_id FROM notifications WHERE user_id = $1 AND status = 'pending')
ORDER BY i.id
FOR UPDATE OF i
"""
_CANCEL_USER_PAGES = """
UPDATE notifications SET status = 'cancelled'
WHERE user_id = $1 AND status = 'pending' AND incident_id = ANY($2::uuid[])
RETURNING id, incident_id, user_id, level, loop, channel
"""


async def cancel_pages_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, at: datetime, reason: str
) -> int:
    """Cancel every pending page of a user (their personal rule chains), each on its timeline.

    Pages a step writes for the user after the incidents were locked here are cancelled by the
    deliverer (their user is gone by then). Returns how many were cancelled here.
    """
    conn = await driver_connection(session)
    incident_ids = [row[0] for row in await conn.fetch(_LOCK_INCIDENTS_PAGING, user_id)]
    if not incident_ids:
        return 0
    cancelled = await conn.fetch(_CANCEL_USER_PAGES, user_id, incident_ids)
    pages = [timeline.CancelledPage(**row) for row in cancelled]
    await timeline.append(
        session, [timeline.cancelled_page(p, at=at, reason=reason) for p in pages]
    )
    return len(cancelled)
