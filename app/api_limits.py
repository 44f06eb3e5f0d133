"""Per-key rate limit of the REST API: a Redis token bucket per API or integration key."""

from fastapi import Request, Response

from app.config import Settings
from app.errors import AppError
from app.ratelimit import RateLimiter, Verdict, limiter_on


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"


def _limiter(request: Request) -> RateLimiter:
    settings: Settings = request.app.state.settings
    return limiter_on(
        request.app.state,
        "api_limiter",
        rate_per_second=settings.api_rate_per_second,
        burst=settings.api_burst,
        namespace="api",
    )


def _headers(limiter: RateLimiter, verdict: Verdict) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limiter.burst),
        "RateLimit-Remaining": str(verdict.remaining),
        "RateLimit-Reset": str(verdict.reset_seconds),
    }


async def enforce(request: Request, response: Response, key_id: str) -> None:
    """Take a token for this key: RateLimit-* headers on the answer, 429 when none is left."""
    limiter = _limiter(request)
    verdict = await limiter.check(key_id)
    if verdict.remaining is None:
        return
    headers = _headers(limiter, verdict)
    if not verdict.allowed:
        headers["Retry-After"] = str(verdict.retry_after_seconds)
        raise TooManyRequests(
            f"too many requests for this key; retry in {verdict.retry_after_seconds} s",
            headers=headers,
        )
    response.headers.update(headers)
