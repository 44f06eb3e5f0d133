"""Inbound events that could not be applied: failed attempts, and the events set aside as dead.

An event whose application fails is left in the inbox with its attempt count and error, and
tried again on a later drain; after `MAX_ATTEMPTS` it moves to `inbound_dead_events` with its
error. Nothing accepted is dropped: an admin lists dead events, retries one (it goes back into
the inbox, as if accepted now) or discards it. Every move is one statement on the drain's or
the request's transaction.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import metrics

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_ERROR_CHARS = 2000

_NOTE_FAILURE = "UPDATE inbound_events SET attempts = $2, last_error = $3 WHERE id = $1"
_SET_ASIDE = """
WITH gone AS (DELETE FROM inbound_events WHERE id = $1 RETURNING *)
INSERT INTO inbound_dead_events (id, service_id, action, dedup_key, trigger, actor,
  received_at, attempts, error, dead_at, request_id)
SELECT id, service_id, action, dedup_key, trigger, actor, received_at, $2, $3, $4, request_id
FROM gone
"""
_RETRY = """
WITH revived AS (DELETE FROM inbound_dead_events WHERE id = $1 RETURNING *)
INSERT INTO inbound_events (service_id, action, dedup_key, trigger, actor, received_at,
  request_id)
SELECT service_id, action, dedup_key, trigger, actor, $2, request_id FROM revived
RETURNING id, service_id, action, dedup_key
"""
_DISCARD = (
    "DELETE FROM inbound_dead_events WHERE id = $1 RETURNING id, service_id, action, dedup_key"
)
# The trigger as text: a stored value need not be one the API could encode as JSON again.
_COLUMNS = """id, service_id, action, dedup_key, trigger::text AS trigger, received_at,
  attempts, {error} AS error, {dead_at} AS dead_at"""
_LIST_DEAD = f"""
SELECT {_COLUMNS.format(error="error", dead_at="dead_at")} FROM inbound_dead_events
WHERE id > $1 ORDER BY id LIMIT $2
"""
_LIST_QUEUED = f"""
SELECT {_COLUMNS.format(error="last_error", dead_at="NULL::timestamptz")} FROM inbound_events
WHERE id > $1 ORDER BY id LIMIT $2
"""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    service_id: Any
    action: str
    dedup_key: str
    trigger: str
    received_at: datetime
    attempts: int
    error: str | None
    dead_at: datetime | None


@dataclass(frozen=True, slots=True)
class Moved:
    """A dead event an admin acted on: its id where it now is (the inbox's after a retry)."""

    id: int
    service_id: uuid.UUID
    action: str
    dedup_key: str


def describe(exc: BaseException) -> str:
    """The error as kept with the event: its type and message, cut to a readable length."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


async def failed(
    conn: Any,
    *,
    event_id: int,
    attempts: int,
    error: BaseException,
    context: dict[str, Any],
    now: datetime,
) -> bool:
    """Record a failed attempt (`attempts` counts it); True if the event is now set aside."""
    text = describe(error)
    fields = {"event_id": event_id, "attempts": attempts, "error": text, **context}
    if attempts < MAX_ATTEMPTS:
        log.warning("inbound event failed; it will be tried again", extra=fields)
        await conn.execute(_NOTE_FAILURE, event_id, attempts, text)
        return False
    log.error(
        "inbound event set aside as dead after %d attempts: %s",
        attempts,
        text,
        extra=fields,
        exc_info=(type(error), error, error.__traceback__),
    )
    await conn.execute(_SET_ASIDE, event_id, attempts, text, now)
    metrics.INBOUND_DEAD.inc()
    return True


async def listed(conn: Any, *, dead: bool, after_id: int, limit: int) -> list[StoredEvent]:
    """Dead (or still queued) events after `after_id`, oldest first."""
    rows = await conn.fetch(_LIST_DEAD if dead else _LIST_QUEUED, after_id, limit)
    return [StoredEvent(**dict(r)) for r in rows]


async def retry(conn: Any, *, event_id: int, now: datetime) -> Moved | None:
    """Put a dead event back into the inbox, accepted anew at `now` (with a new id), or None
    if there is no such dead event."""
    row = await conn.fetchrow(_RETRY, event_id, now)
    return Moved(**dict(row)) if row is not None else None


async def discard(conn: Any, *, event_id: int) -> Moved | None:
    """Drop a dead event for good (what it was), or None if there is no such dead event."""
    row = await conn.fetchrow(_DISCARD, event_id)
    return Moved(**dict(row)) if row is not None else None
