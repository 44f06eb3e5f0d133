"""Per-key REST rate limits and list page-size limits."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.bootstrap import create_admin_key
from app.config import Settings
from app.ratelimit import RateLimiter


@pytest.fixture
def small_bucket(app: Any) -> Iterator[None]:
    """Three requests per key, refilled at one per second, for this test only."""
    previous = getattr(app.state, "api_limiter", None)
    app.state.api_limiter = RateLimiter(
        app.state.redis, rate_per_second=1.0, burst=3, namespace="api-test"
    )
    yield
    app.state.api_limiter = previous


async def test_each_key_gets_its_own_bucket_and_a_429_when_it_is_empty(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    settings: Settings,
    small_bucket: None,
) -> None:
    remaining = []
    for _ in range(3):
        response = await client.get("/api/v1/users", headers=admin_headers)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = await client.get("/api/v1/users", headers=admin_headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["RateLimit-Reset"]) <= 3
    # Another key has its own bucket; requests without a valid key never take a token.
    other = await create_admin_key(settings, email="other@example.com", name="Other")
    other_headers = {"Authorization": f"Bearer {other}"}
    assert (await client.get("/api/v1/users", headers=other_headers)).status_code == 200
    assert (await client.get("/api/v1/users")).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/incidents",
        "/api/v1/audit",
        "/api/v1/webhook-subscriptions/00000000-0000-0000-0000-000000000000/deliveries",
    ],
)
async def test_page_sizes_are_capped(
    client: httpx.AsyncClient, admin_headers: dict[str, str], path: str
) -> None:
    response = await client.get(path, params={"limit": 101}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "limit"
