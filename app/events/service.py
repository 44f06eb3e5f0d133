"""Incident events for outbound webhooks: emitted into an outbox with the change they report."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import driver_connection
from app.events.delivery import event_job
from app.events.schemas import DeliveryStatus, EventType, SubscriptionCreate, SubscriptionUpdate
from app.jsonsafe import encode
from app.models import WebhookDelivery, WebhookSubscription, utcnow
from app.queue import after_commit
from app.repository import apply_changes, get_or_404
from app.security import new_secret
from app.store.timeline import SYSTEM


def _event_body(
    document: dict[str, Any], event_type: EventType, event_id: uuid.UUID, at: datetime, actor: Any
) -> str:
    event = {
        "id": str(event_id),
        "type": event_type.value,
        "occurred_at": at.isoformat(),
        "incident": document,
        "actor": actor,
    }
    return encode({"event": event}).decode()


@dataclass(frozen=True, slots=True)
class Subscription:
    """An enabled subscription: the event types and service ids it takes (empty: every one)."""

    id: uuid.UUID
    event_types: list[str]
    service_ids: list[str]


Subscriptions = list[Subscription]


_SUBSCRIPTIONS = """
SELECT id, event_types::text, service_ids::text FROM webhook_subscriptions WHERE enabled
"""


async def subscriptions(session: AsyncSession) -> Subscriptions:
    """The enabled subscriptions: id, event types and service ids (empty lists match all)."""
    # Read on every batch of escalation steps: one plain statement on the driver connection.
    rows = await (await driver_connection(session)).fetch(_SUBSCRIPTIONS)
    return [Subscription(row[0], json.loads(row[1]), json.loads(row[2])) for row in rows]


def listening(subs: Subscriptions, event_type: EventType) -> Subscriptions:
    """The subscriptions that take this event type (for some service)."""
    return [sub for sub in subs if not sub.event_types or event_type.value in sub.event_types]


async def emit(
    session: AsyncSession,
    document: dict[str, Any],
    event_type: EventType,
    *,
    at: datetime,
    actor: dict[str, Any] | None = None,
) -> int:
    """Write the event about an incident, given as the API shows it (`document`), for every
    matching subscription, in the caller's transaction; how many.

    Call it with the incident locked (or just created), after the change: the document is
    the incident as it is now, and the lock orders events of one incident as they happened.
    """
    return await emit_many(
        session, [document], event_type, at=at, actor=actor, subs=await subscriptions(session)
    )


async def emit_many(
    session: AsyncSession,
    documents: Sequence[dict[str, Any]],
    event_type: EventType,
    *,
    at: datetime,
    subs: Subscriptions,
    actor: dict[str, Any] | None = None,
) -> int:
    """`emit` for many incidents with the subscriptions loaded once, in one statement."""
    subs = listening(subs, event_type)
    if not subs:
        return 0
    deliveries: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]] = []
    for document in documents:
        service_id = document["service_id"]
        targets = [sub.id for sub in subs if not sub.service_ids or service_id in sub.service_ids]
        if not targets:
            continue
        event_id = uuid.uuid4()
        body = _event_body(document, event_type, event_id, at, actor or SYSTEM)
        incident_id = uuid.UUID(document["id"])
        deliveries.extend((sub_id, incident_id, event_id, body) for sub_id in targets)
    if not deliveries:
        return 0
    subscription_ids, incident_ids, event_ids, bodies = zip(*deliveries, strict=True)
    written = await (await driver_connection(session)).fetch(
        _INSERT_DELIVERIES,
        [uuid.uuid4() for _ in deliveries],
        list(subscription_ids),
        list(incident_ids),
        list(event_ids),
        list(bodies),
        event_type.value,
        at,
        utcnow(),
    )
    for row in written:
        after_commit(session, event_job(row[0], 0, None))
    return len(deliveries)


# One statement for all the deliveries, numbered (`seq`, each lane's order) as given.
_INSERT_DELIVERIES = f"""
INSERT INTO webhook_deliveries (id, subscription_id, incident_id, event_id, body, event_type,
  status, attempts, next_attempt_at, created_at)
SELECT d.id, d.subscription_id, d.incident_id, d.event_id, d.body, $6::text,
  '{DeliveryStatus.PENDING.value}', 0, $7::timestamptz, $8::timestamptz
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[])
  WITH ORDINALITY AS d(id, subscription_id, incident_id, event_id, body, n)
ORDER BY d.n
RETURNING id
"""


async def create_subscription(
    *, session: AsyncSession, data: SubscriptionCreate
) -> WebhookSubscription:
    """A new subscription with a fresh signing secret."""
    subscription = WebhookSubscription(
        url=data.url,
        description=data.description,
        event_types=[t.value for t in data.event_types],
        service_ids=[str(s) for s in data.service_ids],
        secret=new_secret(),
        enabled=data.enabled,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def list_subscriptions(*, session: AsyncSession) -> list[WebhookSubscription]:
    """Every subscription, oldest first."""
    query = select(WebhookSubscription).order_by(
        col(WebhookSubscription.created_at), col(WebhookSubscription.id)
    )
    return list((await session.scalars(query)).all())


async def get_subscription(
    *, session: AsyncSession, subscription_id: uuid.UUID
) -> WebhookSubscription:
    """One subscription (404 if unknown)."""
    return await get_or_404(
        session, WebhookSubscription, subscription_id, what="webhook subscription"
    )


async def update_subscription(
    *, session: AsyncSession, subscription_id: uuid.UUID, data: SubscriptionUpdate
) -> WebhookSubscription:
    """Change a subscription; enabling it again clears the reason it was disabled."""
    subscription = await get_subscription(session=session, subscription_id=subscription_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "event_types" in changes:
        changes["event_types"] = [EventType(t).value for t in changes["event_types"]]
    if "service_ids" in changes:
        changes["service_ids"] = [str(s) for s in changes["service_ids"]]
    if changes.get("enabled") is True:
        changes.update(disabled_reason=None, disabled_at=None)
    apply_changes(subscription, changes)
    subscription.updated_at = utcnow()
    await session.flush()
    return subscription


async def delete_subscription(*, session: AsyncSession, subscription_id: uuid.UUID) -> None:
    """Remove a subscription and its delivery history."""
    subscription = await get_subscription(session=session, subscription_id=subscription_id)
    await session.delete(subscription)
    await session.flush()


async def list_deliveries(
    *,
    session: AsyncSession,
    subscription_id: uuid.UUID,
    status: DeliveryStatus | None,
    limit: int,
    before: int | None,
) -> tuple[list[WebhookDelivery], int | None]:
    """A subscription's deliveries, newest first; the cursor is the last row's sequence."""
    await get_subscription(session=session, subscription_id=subscription_id)
    query = select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status.value)
    if before is not None:
        query = query.where(col(WebhookDelivery.seq) < before)
    query = query.order_by(col(WebhookDelivery.seq).desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    cursor = rows[limit - 1].seq if len(rows) > limit else None
    return rows[:limit], cursor
