"""Delivering an outbox row: re-check under a lock, hand to the provider, record the attempt."""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import metrics
from app.config import Settings
from app.escalation.engine import should_deliver
from app.escalation.snapshot import Condition, Status
from app.incidents import timeline
from app.incidents.service import to_read
from app.models import ContactMethod, Incident, Notification, User
from app.notify.base import DeliveryResult, Outcome, Page, Provider
from app.notify.links import action_links
from app.queue import after_commit, delivery_job, level_failed_job

log = logging.getLogger(__name__)

EARLY_TOLERANCE = timedelta(milliseconds=20)


@dataclass(frozen=True)
class DeliveryContext:
    providers: dict[str, Provider]
    settings: Settings
    link_secret: str


def backoff_seconds(attempt: int, settings: Settings, retry_after: float | None) -> float:
    """Exponential backoff with full jitter; a provider's Retry-After wins when longer."""
    cap = settings.delivery_backoff_max_seconds
    ceiling = min(cap, settings.delivery_backoff_base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def shown_address(channel: str, address: str) -> str:
    """The address as timelines show it: URLs lose their path, which often carries a token."""
    if channel in ("webhook", "slack"):
        parts = urlsplit(address)
        return f"{parts.scheme}://{parts.netloc}/…"
    return address


async def _page(
    session: AsyncSession, n: Notification, incident: Incident, ctx: DeliveryContext, now: datetime
) -> Page:
    user: dict[str, Any] | None = None
    if n.user_id is not None:
        row = await session.get(User, n.user_id)
        user = {"id": str(n.user_id), "name": row.name if row else ""}
    secret = ctx.link_secret
    if n.contact_method_id is not None:
        method = await session.get(ContactMethod, n.contact_method_id)
        secret = method.signing_secret if method and method.signing_secret else secret
    return Page(
        notification_id=str(n.id),
        idempotency_key=n.idempotency_key,
        channel=n.channel,
        address=n.address,
        attempt=n.attempts + 1,
        incident=to_read(incident).model_dump(mode="json"),
        level=n.level,
        loop=n.loop,
        user=user,
        signing_secret=secret,
        actions=action_links(
            secret=ctx.link_secret,
            public_url=ctx.settings.public_url,
            incident_id=incident.id,
            user_id=n.user_id,
            now=now.timestamp(),
            ttl_seconds=ctx.settings.action_link_ttl_seconds,
        ),
    )


async def _send(page: Page, ctx: DeliveryContext) -> DeliveryResult:
    provider = ctx.providers.get(page.channel)
    if provider is None:
        return DeliveryResult(Outcome.PERMANENT, f"no {page.channel} provider is configured")
    metrics.DELIVERY_ATTEMPTS.labels(page.channel).inc()
    return await provider.send(page)


async def deliver(
    *, session: AsyncSession, notification_id: uuid.UUID, now: datetime, ctx: DeliveryContext
) -> None:
    """The delivery job; the incident stays share-locked until the provider has the page."""
    first = await session.get(Notification, notification_id)
    if first is None or first.status != "pending":
        return
    # Lock order incident → notification everywhere, so acks and deliveries never deadlock.
    incident = (
        await session.scalars(
            select(Incident)
            .where(col(Incident.id) == first.incident_id)
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
    ).one()
    n = (
        await session.scalars(
            select(Notification)
            .where(col(Notification.id) == notification_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if n is None or n.status != "pending":
        return  # another worker holds it, or it was settled meanwhile
    if n.due_at - now > EARLY_TOLERANCE:
        after_commit(session, delivery_job(n.id, n.attempts, n.due_at, suffix=":early"))
        return
    base = {
        "notification_id": str(n.id),
        "level": n.level,
        "loop": n.loop,
        "channel": n.channel,
        "address": shown_address(n.channel, n.address),
        "user_id": str(n.user_id) if n.user_id else None,
    }
    if not should_deliver(
        status=Status(incident.status),
        condition=Condition(n.condition),
        acknowledged_at=incident.acknowledged_at,
        created_at=n.created_at,
    ):
        n.status = "cancelled"
        metrics.PAGES.labels(n.channel, "cancelled").inc()
        timeline.record(
            session,
            incident_id=incident.id,
            type="notification_cancelled",
            at=now,
            details={**base, "reason": f"incident {incident.status}"},
        )
        return
    result = await _send(await _page(session, n, incident, ctx, now), ctx)
    if result.outcome is Outcome.DEFERRED:
        # Not attempted (e.g. the destination's rate limit): wait, without using up an attempt.
        n.due_at = now + timedelta(seconds=result.retry_after_seconds or 1.0)
        suffix = f":deferred{int(n.due_at.timestamp() * 1000)}"
        after_commit(session, delivery_job(n.id, n.attempts, n.due_at, suffix=suffix))
        timeline.record(
            session,
            incident_id=incident.id,
            type="notification_delayed",
            at=now,
            details={**base, "reason": result.detail, "retry_at": n.due_at.isoformat()},
        )
        return
    n.attempts += 1
    attempt = {
        **base,
        "attempt": n.attempts,
        "outcome": result.outcome.value,
        "status_code": result.status_code,
        "response": result.detail,
    }
    if result.outcome is Outcome.SENT:
        n.status, n.sent_at = "sent", now
        metrics.PAGES.labels(n.channel, "sent").inc()
        timeline.record(session, incident_id=incident.id, type="notified", at=now, details=attempt)
        return
    n.last_error = result.detail[:2000]
    log.warning("page not delivered", extra={"incident_id": str(incident.id), **attempt})
    if result.outcome is Outcome.TRANSIENT and n.attempts < ctx.settings.delivery_max_attempts:
        delay = backoff_seconds(n.attempts, ctx.settings, result.retry_after_seconds)
        n.due_at = now + timedelta(seconds=delay)
        after_commit(session, delivery_job(n.id, n.attempts, n.due_at))
        timeline.record(
            session,
            incident_id=incident.id,
            type="notification_failed",
            at=now,
            details={**attempt, "final": False, "retry_at": n.due_at.isoformat()},
        )
        return
    n.status = "failed"
    metrics.PAGES.labels(n.channel, "failed").inc()
    timeline.record(
        session,
        incident_id=incident.id,
        type="notification_failed",
        at=now,
        details={**attempt, "final": True},
    )
    after_commit(session, level_failed_job(incident.id, n.level, n.loop))
