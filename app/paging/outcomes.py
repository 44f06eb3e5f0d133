"""What a delivery attempt's result means for its outbox row: a pure decision, no I/O."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.config import Settings
from app.notify.base import DeliveryResult, Outcome, jittered_backoff
from app.notify.registry import shown_address

MAX_ERROR = 2000


@dataclass(frozen=True)
class Settled:
    """A page's new state, the timeline entry describing it, and what to do after commit."""

    status: str  # pending (retry or deferred), sent, failed, cancelled
    attempts: int
    entry_type: str
    details: dict[str, Any]
    metric: str | None = None  # the pages_total outcome, when the page is done
    retry_at: datetime | None = None  # wake the deliverer then
    sent_at: datetime | None = None
    last_error: str | None = None
    level_failed: bool = False  # every level's page may have failed: re-check the level


def backoff_seconds(attempt: int, settings: Settings, retry_after: float | None) -> float:
    """The wait before a page's next attempt (delivery backoff settings)."""
    return jittered_backoff(
        attempt,
        base_seconds=settings.delivery_backoff_base_seconds,
        cap_seconds=settings.delivery_backoff_max_seconds,
        retry_after=retry_after,
    )


def page_details(
    *,
    notification_id: uuid.UUID,
    level: int,
    loop: int,
    channel: str,
    address: str,
    user_id: uuid.UUID | None,
) -> dict[str, Any]:
    """What every timeline entry about a page says about it."""
    return {
        "notification_id": str(notification_id),
        "level": level,
        "loop": loop,
        "channel": channel,
        "address": shown_address(channel, address),
        "user_id": str(user_id) if user_id else None,
    }


def cancelled(base: dict[str, Any], *, attempts: int, reason: str) -> Settled:
    """The page is no longer wanted: the incident was acknowledged or resolved since it was
    decided, or the person it was for was deleted."""
    return Settled(
        "cancelled",
        attempts,
        "notification_cancelled",
        {**base, "reason": reason},
        metric="cancelled",
    )


def after_attempt(
    base: dict[str, Any],
    result: DeliveryResult,
    *,
    attempts: int,
    now: datetime,
    settings: Settings,
) -> Settled:
    """The page's state after the provider answered `result` (`attempts` made before this one)."""
    if result.outcome is Outcome.DEFERRED:
        # Not attempted (e.g. the destination's rate limit): wait, without using up an attempt.
        retry_at = now + timedelta(seconds=result.retry_after_seconds or 1.0)
        details = {**base, "reason": result.detail, "retry_at": retry_at.isoformat()}
        return Settled("pending", attempts, "notification_delayed", details, retry_at=retry_at)
    attempt = attempts + 1
    details = {
        **base,
        "attempt": attempt,
        "outcome": result.outcome.value,
        "status_code": result.status_code,
        "response": result.detail,
    }
    if result.outcome is Outcome.SENT:
        return Settled("sent", attempt, "notified", details, metric="sent", sent_at=now)
    error = result.detail[:MAX_ERROR]
    if result.outcome is Outcome.TRANSIENT and attempt < settings.delivery_max_attempts:
        delay = backoff_seconds(attempt, settings, result.retry_after_seconds)
        retry_at = now + timedelta(seconds=delay)
        details = {**details, "final": False, "retry_at": retry_at.isoformat()}
        return Settled(
            "pending",
            attempt,
            "notification_failed",
            details,
            retry_at=retry_at,
            last_error=error,
        )
    return Settled(
        "failed",
        attempt,
        "notification_failed",
        {**details, "final": True},
        metric="failed",
        last_error=error,
        level_failed=True,
    )
