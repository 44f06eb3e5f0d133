"""Applying queued inbound events in the order they were accepted, hundreds per transaction.

One worker at a time drains the inbox (a transaction-scoped advisory lock), so the events of
one dedup key are applied in the order they arrived: a trigger queued before a resolve is
opened before it is resolved. A run of triggers is applied together: one query for the open
incidents they may add to, the routing context and policy snapshot once per service and
policy, and one statement each for the new incidents, the alert counts and the timeline.
Every other event (acknowledge, resolve, note, a trigger that failed before or whose sender
waits for a receipt) takes the pipeline's one-event path, `pipeline.apply`, which the sources
applied in their request use too.

One event that cannot be applied never stops the others: each run is applied in a savepoint,
and a run that fails is applied again one event at a time. An event that fails stays queued
with its error and holds back the later events of its dedup key (their order is kept) until it
is tried again; after a few attempts it is set aside as dead (`app/integrations/deadletter.py`)
and the rest of its key goes ahead.
"""

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection as driver
from app.errors import is_connection_error
from app.events.schemas import EventType
from app.events.service import emit_many, listening, subscriptions
from app.incidents.opening import Opening, deduplicated_entry, open_incident
from app.incidents.schemas import IncidentTrigger
from app.integrations import deadletter, pipeline
from app.integrations.ingest import Event
from app.models import (
    Service,
    utcnow,
)
from app.paging.wake import step_wakeup
from app.policies.service import frozen_snapshot, read_policy
from app.queue import after_commit, forget_jobs, jobs_asked
from app.routing.service import RoutingContext, routing_context
from app.services.service import services_by_id
from app.store import timeline, timers
from app.store.documents import document
from app.store.incidents import add_alerts, insert_incidents, lock_open_by_key, read_incidents

BATCH = 500
# pg_advisory lock id of the inbox drainer ("stairway inbox" folded into a bigint).
DRAIN_LOCK = 0x5354_4149_4E42_4F58 & 0x7FFF_FFFF_FFFF_FFFF


# The drainer's lock and its batch in one round trip; `locked` false (and no event) while
# another worker drains. The trigger stays text: only new incidents need it parsed.
_CLAIM = """
WITH drainer AS (SELECT pg_try_advisory_xact_lock($1) AS locked)
SELECT d.locked, e.id, e.service_id, e.action, e.dedup_key, e.trigger::text AS trigger,
       e.actor, e.received_at, e.attempts, e.request_id
FROM drainer AS d
LEFT JOIN LATERAL (
    SELECT * FROM inbound_events WHERE d.locked ORDER BY id LIMIT $2
) AS e ON true
ORDER BY e.id
"""
_DELETE = "DELETE FROM inbound_events WHERE id = ANY($1::bigint[])"


@dataclass(frozen=True)
class Drained:
    applied: int
    more: bool  # the batch was full: drain again at once
    busy: bool = False  # another worker holds the inbox
    failed: int = 0  # events that failed and wait in the inbox for another attempt
    dead: int = 0  # events set aside as dead


@dataclass(frozen=True)
class Queued:
    id: int
    service_id: uuid.UUID
    action: str
    dedup_key: str
    trigger: str
    actor: dict[str, Any]
    received_at: datetime
    attempts: int = 0
    request_id: uuid.UUID | None = None

    @property
    def key(self) -> tuple[uuid.UUID, str]:
        return self.service_id, self.dedup_key

    @property
    def together(self) -> bool:
        """Whether it may be applied in a run of triggers."""
        return self.action == "trigger" and not self.attempts and self.request_id is None

    def event(self) -> Event:
        """The event as the pipeline applies it."""
        action: Any = self.action
        if action == "trigger":
            data = IncidentTrigger.model_validate_json(self.trigger)
            return Event(action, self.dedup_key, data, request_id=self.request_id)
        fields = json.loads(self.trigger)
        target = fields.get("incident_id")
        return Event(
            action,
            self.dedup_key,
            incident_id=uuid.UUID(target) if target else None,
            note=fields.get("note"),
            request_id=self.request_id,
        )


async def drain_batch(*, session: AsyncSession, limit: int = BATCH) -> Drained:
    """Apply up to `limit` queued events, oldest first, and delete those applied (caller
    commits); an event that fails is kept for another attempt or set aside as dead."""
    conn = await driver(session)
    rows = await conn.fetch(_CLAIM, DRAIN_LOCK, limit)
    if not rows[0]["locked"]:
        return Drained(0, more=False, busy=True)
    events = [
        Queued(
            r["id"],
            r["service_id"],
            r["action"],
            r["dedup_key"],
            r["trigger"],
            r["actor"],
            r["received_at"],
            r["attempts"],
            r["request_id"],
        )
        for r in rows
        if r["id"] is not None
    ]
    batch = _Batch(session, conn)
    start = 0
    while start < len(events):
        end = start
        # Triggers never tried before go together; one that failed before, or whose sender
        # waits for a receipt, goes alone.
        while end < len(events) and events[end].together:
            end += 1
        if end > start:
            await batch.triggers(events[start:end])
            start = end
        else:
            await batch.one(events[start])
            start += 1
    if batch.applied:
        await conn.execute(_DELETE, batch.applied)
    return Drained(
        len(batch.applied), more=len(events) == limit, failed=batch.failed, dead=batch.dead
    )


class _Batch:
    """The events of one batch applied so far, and the dedup keys held back by a failure."""

    def __init__(self, session: AsyncSession, conn: Any) -> None:
        self.session = session
        self.conn = conn
        self.applied: list[int] = []
        self.held: set[tuple[uuid.UUID, str]] = set()
        self.failed = 0
        self.dead = 0

    async def triggers(self, events: Sequence[Queued]) -> None:
        """A run of triggers together; one at a time if that fails."""
        free = [e for e in events if e.key not in self.held]
        if not free:
            return
        mark = jobs_asked(self.session)
        savepoint = await self.session.begin_nested()
        try:
            together = await _apply_triggers_together(self.session, free)
        except Exception as exc:
            if is_connection_error(exc):
                raise
            together = False  # one of them cannot be applied: find which, one at a time
        if together:
            await savepoint.commit()
            self.applied.extend(e.id for e in free)
            return
        # Either a trigger through another path opened one of these keys meanwhile, or one
        # of them fails: one at a time.
        await savepoint.rollback()
        forget_jobs(self.session, mark)
        for queued in free:
            await self.one(queued)

    async def one(self, queued: Queued) -> None:
        """One event in a savepoint of its own; a failure is recorded, never raised."""
        if queued.key in self.held:
            return  # an earlier event of its key waits for another attempt: keep the order
        mark = jobs_asked(self.session)
        savepoint = await self.session.begin_nested()
        try:
            await _apply_one(self.session, queued)
        except Exception as exc:
            if is_connection_error(exc):
                raise
            await savepoint.rollback()
            forget_jobs(self.session, mark)
            await self._failed(queued, exc)
            return
        await savepoint.commit()
        self.applied.append(queued.id)

    async def _failed(self, queued: Queued, exc: Exception) -> None:
        context = {
            "service_id": str(queued.service_id),
            "action": queued.action,
            "dedup_key": queued.dedup_key,
        }
        dead = await deadletter.failed(
            self.conn,
            event_id=queued.id,
            attempts=queued.attempts + 1,
            error=exc,
            context=context,
            now=utcnow(),
        )
        if dead:
            self.dead += 1
        else:
            self.failed += 1
            self.held.add(queued.key)


async def _apply_one(session: AsyncSession, queued: Queued) -> None:
    """The pipeline's one-event path (what the request path of other sources runs)."""
    await pipeline.apply(
        session=session,
        service_id=queued.service_id,
        event=queued.event(),
        actor=queued.actor,
        now=queued.received_at,
    )


class _Policies:
    """Policy snapshots and routing contexts, each read once per batch."""

    def __init__(self, session: AsyncSession, services: dict[uuid.UUID, Service]) -> None:
        self.session = session
        self.services = services
        self._contexts: dict[uuid.UUID, RoutingContext] = {}
        self._snapshots: dict[tuple[uuid.UUID, str], tuple[str, dict[str, Any]]] = {}

    async def context(self, service_id: uuid.UUID, now: datetime) -> RoutingContext:
        if service_id not in self._contexts:
            service = self.services[service_id]
            self._contexts[service_id] = await routing_context(
                session=self.session, service=service, now=now
            )
        return self._contexts[service_id]

    async def snapshot(self, policy_id: uuid.UUID, urgency: str) -> tuple[str, dict[str, Any]]:
        key = (policy_id, urgency)
        if key not in self._snapshots:
            policy = await read_policy(session=self.session, policy_id=policy_id)
            snapshot = frozen_snapshot(policy, urgency=urgency).to_json()
            self._snapshots[key] = (policy.name, snapshot)
        return self._snapshots[key]


async def _apply_triggers_together(session: AsyncSession, events: Sequence[Queued]) -> bool:
    """Apply a run of triggers in bulk; False (nothing kept) if a key was opened meanwhile."""
    keys = {(e.service_id, e.dedup_key) for e in events}
    open_by_key = await lock_open_by_key(session, keys)
    services = await services_by_id(session=session, service_ids={e.service_id for e in events})
    policies = _Policies(session, services)
    openings: list[Opening] = []
    alerts: Counter[uuid.UUID] = Counter()
    last_alert_at: dict[uuid.UUID, datetime] = {}
    entries: list[timeline.Entry] = []
    for queued in events:
        if queued.service_id not in services:
            continue  # the service was deleted after the event was accepted
        key = (queued.service_id, queued.dedup_key)
        existing = open_by_key.get(key)
        if existing is not None:
            # One more alert: its title and source go on the timeline; the stored trigger was
            # validated when it was accepted, so it is only read here.
            fields = json.loads(queued.trigger)
            alerts[existing] += 1
            last_alert_at[existing] = queued.received_at
            entries.append(
                deduplicated_entry(
                    incident_id=existing,
                    title=fields["title"],
                    source=fields.get("source", ""),
                    actor=queued.actor,
                    now=queued.received_at,
                )
            )
            continue
        data = IncidentTrigger.model_validate_json(queued.trigger)
        context = await policies.context(queued.service_id, queued.received_at)
        route = context.decide(data)
        policy_name, snapshot = await policies.snapshot(route.policy_id, route.urgency)
        opening = open_incident(
            service_id=queued.service_id,
            data=data,
            dedup_key=queued.dedup_key,
            route=route,
            policy_id=route.policy_id,
            policy_name=policy_name,
            snapshot=snapshot,
            auto_resolve_seconds=services[queued.service_id].auto_resolve_seconds,
            actor=queued.actor,
            now=queued.received_at,
        )
        openings.append(opening)
        entries.extend(opening.entries)
        if not opening.suppressed:
            open_by_key[key] = opening.id
    if openings and await insert_incidents(session, [o.row for o in openings]) != len(openings):
        return False
    await add_alerts(session, alerts, last_alert_at=last_alert_at)
    await timeline.append(session, entries)
    await _after_opening(session, openings)
    return True


async def _after_opening(session: AsyncSession, openings: Sequence[Opening]) -> None:
    """Start escalation, arm auto-resolve and emit `incident.triggered` for the new incidents."""
    for opening in openings:
        if opening.pages:
            after_commit(session, step_wakeup(opening.row.created_at))
    paged = {o.id: o for o in openings if not o.suppressed}
    for opening in paged.values():
        timers.on_triggered(session, opening.id, opening.row.auto_resolve_at)
    subs = listening(await subscriptions(session), EventType.TRIGGERED)
    if not subs or not paged:
        return
    incidents = await read_incidents(session, list(paged))
    for incident in sorted(incidents, key=lambda i: i.number or 0):
        actor = paged[incident.id].entries[0].actor
        at = incident.created_at
        documents = [document(incident)]
        await emit_many(session, documents, EventType.TRIGGERED, at=at, actor=actor, subs=subs)
