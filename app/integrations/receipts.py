"""Receipts: how an event sent with a request id was applied, kept for the sender to ask.

Written by `pipeline.apply` in the transaction that applies the event, so a receipt exists
exactly when the event took effect. An event still in the inbox has none yet; a dead one is
told from `inbound_dead_events`.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.integrations.ingest import Applied
from app.models import DeadInboundEvent, InboundEvent, InboundReceipt


@dataclass(frozen=True, slots=True)
class Receipt:
    request_id: uuid.UUID
    action: str
    dedup_key: str
    incident_id: uuid.UUID | None
    outcome: str  # created, deduplicated, changed, unchanged, dropped; or queued, dead
    processed_at: datetime | None
    error: str | None = None


async def record(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    service_id: uuid.UUID,
    applied: Applied,
    now: datetime,
) -> None:
    """Keep how the event with this request id was applied."""
    await session.execute(
        insert(InboundReceipt)
        .values(
            request_id=request_id,
            service_id=service_id,
            action=applied.action,
            dedup_key=applied.dedup_key,
            incident_id=applied.incident_id,
            outcome=applied.outcome,
            processed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["request_id"])
    )


# At most this many receipts go per sweep: the sweeper runs every few seconds and catches up.
PRUNE_BATCH = 5000


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Forget receipts processed before `before` (their senders stopped asking long ago)."""
    oldest = (
        select(col(InboundReceipt.request_id))
        .where(col(InboundReceipt.processed_at) < before)
        .order_by(col(InboundReceipt.processed_at))
        .limit(PRUNE_BATCH)
    )
    result = await session.execute(
        delete(InboundReceipt)
        .where(col(InboundReceipt.request_id).in_(oldest.scalar_subquery()))
        .returning(col(InboundReceipt.request_id))
    )
    return len(result.all())


async def find(
    session: AsyncSession, *, request_id: uuid.UUID, service_id: uuid.UUID
) -> Receipt | None:
    """The receipt of the service's request (outcome `queued` while its event waits in the
    inbox, `dead` once set aside), or None when there is no such request."""
    row = await session.get(InboundReceipt, request_id)
    if row is not None and row.service_id == service_id:
        return Receipt(
            row.request_id,
            row.action,
            row.dedup_key,
            row.incident_id,
            row.outcome,
            row.processed_at,
        )
    dead = (
        await session.scalars(
            select(DeadInboundEvent)
            .where(col(DeadInboundEvent.request_id) == request_id)
            .where(col(DeadInboundEvent.service_id) == service_id)
        )
    ).first()
    if dead is not None:
        return Receipt(
            request_id, dead.action, dead.dedup_key, None, "dead", dead.dead_at, dead.error
        )
    waiting = (
        await session.scalars(
            select(InboundEvent)
            .where(col(InboundEvent.request_id) == request_id)
            .where(col(InboundEvent.service_id) == service_id)
            .limit(1)
        )
    ).first()
    if waiting is None:
        return None
    return Receipt(
        request_id, waiting.action, waiting.dedup_key, None, "queued", None, waiting.last_error
    )
