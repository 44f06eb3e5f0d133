"""Delivering event outbox rows: signed, at least once, in order per subscription and incident."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from app.config import Settings
from app.models import WebhookDelivery, WebhookSubscription
from app.notify.base import jittered_backoff, parse_retry_after
from app.outbound import ForbiddenDestination, post_bytes
from app.queue import JobSpec, after_commit
from app.security import sign_payload

EVENT_JOB = "deliver_event"
EARLY_TOLERANCE = timedelta(milliseconds=20)
# While an earlier event of the lane is being sent, look again this soon.
IN_FLIGHT_RECHECK = timedelta(seconds=1)
MAX_DETAIL = 300
BATCH = 2000


def event_job(
    delivery_id: uuid.UUID, attempt: int, due_at: datetime | None, *, suffix: str = ""
) -> JobSpec:
    """One delivery attempt of an event row (job name and arguments are stable)."""
    return JobSpec(EVENT_JOB, (str(delivery_id),), f"event:{delivery_id}:{attempt}{suffix}", due_at)


def backoff_seconds(attempt: int, settings: Settings, retry_after: float | None) -> float:
    """The wait before an event's next attempt: up to hours (event backoff settings)."""
    return jittered_backoff(
        attempt,
        base_seconds=settings.event_backoff_base_seconds,
        cap_seconds=settings.event_backoff_max_seconds,
        retry_after=retry_after,
    )


def _lane(row: WebhookDelivery) -> tuple[ColumnElement[bool], ...]:
    return (
        col(WebhookDelivery.subscription_id) == row.subscription_id,
        col(WebhookDelivery.incident_id) == row.incident_id,
        col(WebhookDelivery.status) == "pending",
    )


async def _blocked(session: AsyncSession, row: WebhookDelivery, now: datetime) -> bool:
    """True if an earlier event of the lane is still pending; this row then waits its turn."""
    earlier = select(col(WebhookDelivery.id)).where(*_lane(row), col(WebhookDelivery.seq) < row.seq)
    if await session.scalar(earlier.limit(1)) is None:
        return False
    free = await session.scalar(earlier.limit(1).with_for_update(skip_locked=True))
    if free is None:
        # The earlier one is being sent right now; its success may not see this row yet.
        due = now + IN_FLIGHT_RECHECK
        after_commit(
            session, event_job(row.id, row.attempts, due, suffix=f":wait{due.timestamp()}")
        )
    # Otherwise it waits for a retry: its success hands over to this row.
    return True


@dataclass(frozen=True)
class _Answer:
    ok: bool
    status_code: int | None
    detail: str
    retry_after: float | None = None
    # Retrying cannot help: the destination is refused, or the URL can never be sent.
    permanent: bool = False


async def _send(
    client: httpx.AsyncClient, subscription: WebhookSubscription, row: WebhookDelivery
) -> _Answer:
    body = row.body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Stairway-Signature": sign_payload(subscription.secret, body),
        "X-Stairway-Delivery": str(row.id),
        "X-Stairway-Event": row.event_type,
    }
    try:
        response = await post_bytes(client, subscription.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return _Answer(False, None, "timed out")
    except ForbiddenDestination as exc:
        return _Answer(False, None, f"refused: {exc}"[:MAX_DETAIL], permanent=True)
    except httpx.HTTPError as exc:
        return _Answer(False, None, f"{type(exc).__name__}: {exc}"[:MAX_DETAIL])
    detail = f"HTTP {response.status_code} {response.text[:MAX_DETAIL]}".strip()
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return _Answer(response.is_success, response.status_code, detail, retry_after)


async def deliver(
    *,
    session: AsyncSession,
    delivery_id: uuid.UUID,
    now: datetime,
    client: httpx.AsyncClient,
    settings: Settings,
) -> None:
    """The delivery job: the row stays locked while it is sent, so no two workers send it."""
    row = (
        await session.scalars(
            select(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if row is None or row.status != "pending":
        return
    if row.next_attempt_at - now > EARLY_TOLERANCE:
        after_commit(session, event_job(row.id, row.attempts, row.next_attempt_at, suffix=":early"))
        return
    subscription = await session.get(WebhookSubscription, row.subscription_id)
    if subscription is None or not subscription.enabled:
        return  # re-enabling the subscription resumes it (the sweeper re-arms the lane)
    if await _blocked(session, row, now):
        return
    answer = await _send(client, subscription, row)
    row.attempts += 1
    row.last_status_code = answer.status_code
    if answer.ok:
        row.status, row.delivered_at, row.last_error = "delivered", now, None
        following = await session.execute(
            select(col(WebhookDelivery.id), col(WebhookDelivery.attempts))
            .where(*_lane(row), col(WebhookDelivery.seq) > row.seq)
            .order_by(col(WebhookDelivery.seq))
            .limit(1)
        )
        for next_id, attempts in following:
            after_commit(session, event_job(next_id, attempts, None, suffix=f":after{row.seq}"))
        return
    row.last_error = answer.detail
    if answer.permanent or row.attempts >= settings.event_max_attempts:
        row.status = "failed"
        subscription.enabled = False
        subscription.disabled_at = now
        tried = "cannot be delivered" if answer.permanent else f"failed {row.attempts} times"
        subscription.disabled_reason = (
            f"event {row.event_id} ({row.event_type}) {tried}; last answer: {answer.detail}"
        )[:2000]
        return
    delay = backoff_seconds(row.attempts, settings, answer.retry_after)
    row.next_attempt_at = now + timedelta(seconds=delay)
    after_commit(session, event_job(row.id, row.attempts, row.next_attempt_at))


async def rearm(*, session: AsyncSession, cutoff: datetime, suffix: str) -> int:
    """Enqueue (after commit) the overdue head of every lane of an enabled subscription."""
    earlier = aliased(WebhookDelivery)
    has_earlier = (
        select(col(earlier.id))
        .where(
            col(earlier.subscription_id) == col(WebhookDelivery.subscription_id),
            col(earlier.incident_id) == col(WebhookDelivery.incident_id),
            col(earlier.status) == "pending",
            col(earlier.seq) < col(WebhookDelivery.seq),
        )
        .exists()
    )
    overdue = await session.execute(
        select(
            col(WebhookDelivery.id),
            col(WebhookDelivery.attempts),
            col(WebhookDelivery.next_attempt_at),
        )
        .join(
            WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id)
        )
        .where(
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) < cutoff,
            col(WebhookSubscription.enabled).is_(True),
            ~has_earlier,
        )
        .order_by(col(WebhookDelivery.next_attempt_at))
        .limit(BATCH)
    )
    count = 0
    for delivery_id, attempts, due_at in overdue:
        after_commit(session, event_job(delivery_id, attempts, due_at, suffix=suffix))
        count += 1
    return count
