"""Per-destination rate limits: at most one page per phone number (etc.) per interval.

A page over the limit is not dropped: the provider answers DEFERRED with the wait, the delivery
records it on the timeline and tries again then, without using up an attempt.
"""

import hashlib
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from app.notify.base import DeliveryResult, Outcome, Page, Provider

log = logging.getLogger(__name__)


class DestinationLimiter:
    """Claims a destination's slot; shared by every worker through Redis (`SET NX PX`)."""

    def __init__(self, redis: Any | None, *, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._local: dict[str, float] = {}  # without Redis: this process only

    async def claim(self, channel: str, address: str, interval_seconds: float) -> float:
        """0 if the page may go now (the slot is taken), else the seconds until it frees."""
        digest = hashlib.sha256(address.encode()).hexdigest()[:24]
        key = f"{self.prefix}:{channel}:{digest}"
        if self.redis is None:
            now = time.monotonic()
            free_at = self._local.get(key, 0.0)
            if free_at > now:
                return free_at - now
            self._local[key] = now + interval_seconds
            return 0.0
        try:
            if await self.redis.set(key, "1", nx=True, px=max(1, int(interval_seconds * 1000))):
                return 0.0
            remaining_ms = int(await self.redis.pttl(key))
        except (RedisError, OSError) as exc:
            # Better a second SMS than a page held back because Redis is away.
            log.warning("rate limit check failed, sending anyway", extra={"error": str(exc)})
            return 0.0
        return max(remaining_ms, 50) / 1000


class RateLimited:
    """A provider wrapped with a per-destination limit."""

    def __init__(self, inner: Provider, limiter: DestinationLimiter, interval_seconds: float):
        self.inner = inner
        self.channel = inner.channel
        self.limiter = limiter
        self.interval_seconds = interval_seconds

    async def send(self, page: Page) -> DeliveryResult:
        """Send if the destination's slot is free, else defer until it is."""
        wait = await self.limiter.claim(self.channel, page.address, self.interval_seconds)
        if wait > 0:
            return DeliveryResult(
                Outcome.DEFERRED,
                f"rate limited: at most one {self.channel} page per "
                f"{self.interval_seconds:g}s to this destination",
                retry_after_seconds=wait,
            )
        return await self.inner.send(page)
