"""Per-key token bucket in Redis (API and integration keys), atomic across API processes."""

import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate (tokens/s), burst. Returns {allowed, wait_ms, tokens left (as a
# string: Lua numbers become integers)}. Redis' own clock keeps every API process on one time base.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, wait_ms, tostring(tokens)}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int = 0
    # Whole tokens left and seconds until the bucket is full again (None: not limited).
    remaining: int | None = None
    reset_seconds: int = 0


class RateLimiter:
    """Admit `rate_per_second` events per key on average, bursts up to `burst`."""

    def __init__(
        self, redis: Any, *, rate_per_second: float, burst: int, namespace: str = "ingest"
    ) -> None:
        self.rate = rate_per_second
        self.burst = max(1, burst)
        self.namespace = namespace
        self._script = redis.register_script(_TOKEN_BUCKET) if rate_per_second > 0 else None

    async def check(self, bucket: str) -> Verdict:
        """Take a token for `bucket`; Redis trouble admits the event (PostgreSQL is the record)."""
        if self._script is None:
            return Verdict(True)
        try:
            allowed, wait_ms, left = await self._script(
                keys=[f"stairway:{self.namespace}:{bucket}"], args=[self.rate, self.burst]
            )
        except Exception as exc:  # redis raises its own hierarchy; never refuse an alert for it
            log.warning("rate limiter unavailable, admitting", extra={"error": repr(exc)})
            return Verdict(True)
        tokens = float(left)
        reset = math.ceil((self.burst - tokens) / self.rate)
        if int(allowed):
            return Verdict(True, remaining=int(tokens), reset_seconds=reset)
        wait = max(1, math.ceil(int(wait_ms) / 1000))
        return Verdict(False, wait, remaining=0, reset_seconds=reset)


def limiter_on(
    state: Any, attribute: str, *, rate_per_second: float, burst: int, namespace: str
) -> RateLimiter:
    """The app's limiter stored at `state.<attribute>`, made on first use (Redis is ready then)."""
    limiter: RateLimiter | None = getattr(state, attribute, None)
    if limiter is None:
        limiter = RateLimiter(
            state.redis, rate_per_second=rate_per_second, burst=burst, namespace=namespace
        )
        setattr(state, attribute, limiter)
    return limiter
