"""User API keys: random, hashed, shown once, identifiable by prefix, expiring, last-used time."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from app.models import ApiKey
from app.security import hash_key
from tests.factories import Api


@pytest.fixture
def api(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Api:
    return Api(client, admin_headers)


async def test_keys_are_random_hashed_and_shown_once(api: Api, app: Any) -> None:
    user = await api.user("Rita")
    created = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    secret = created["key"]
    assert secret.startswith("sw_")
    assert len(secret) >= 3 + 43
    assert secret.startswith(created["prefix"])
    assert len(created["prefix"]) < len(secret) // 2
    async with app.state.sessions() as session:
        stored = await session.scalar(select(ApiKey).where(col(ApiKey.id) == created["id"]))
    assert stored is not None
    assert stored.key_hash == hash_key(secret)
    assert secret not in stored.key_hash
    listed = await api.get(f"/users/{user['id']}/api-keys")
    assert "key" not in listed["items"][0]
    assert listed["items"][0]["prefix"] == created["prefix"]


async def test_last_used_is_recorded_at_most_once_a_minute(api: Api, app: Any) -> None:
    user = await api.user("Rita")
    created = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    headers = {"Authorization": f"Bearer {created['key']}"}

    async def last_used() -> datetime | None:
        async with app.state.sessions() as session:
            key: ApiKey | None = await session.get(ApiKey, created["id"])
            assert key is not None
            return key.last_used_at

    assert await last_used() is None
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 200
    first = await last_used()
    assert first is not None
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 200
    assert await last_used() == first  # within the minute: no second write
    async with app.state.sessions() as session, session.begin():
        earlier = first - timedelta(minutes=5)
        await session.execute(
            update(ApiKey).where(col(ApiKey.id) == created["id"]).values(last_used_at=earlier)
        )
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 200
    refreshed = await last_used()
    assert refreshed is not None
    assert refreshed > first - timedelta(minutes=5)
    listed = await api.get(f"/users/{user['id']}/api-keys")
    assert listed["items"][0]["last_used_at"] is not None


async def test_an_expired_key_stops_working(api: Api, app: Any) -> None:
    user = await api.user("Rita")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = await api.post(f"/users/{user['id']}/api-keys", {"name": "ci", "expires_at": soon})
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 200
    async with app.state.sessions() as session, session.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(ApiKey).where(col(ApiKey.id) == created["id"]).values(expires_at=past)
        )
    assert (await api.client.get("/api/v1/incidents", headers=headers)).status_code == 401
