"""User API keys: random, hashed, shown once, identifiable by prefix, expiring, last-used time."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlmodel import col

from app.models import ApiKey
from app.security import hash_key
from tests.factories import Api


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


async def test_revoking_a_key_while_its_user_is_deleted_is_a_404(api: Api, app: Any) -> None:
    user = await api.user("Gone Soon")
    key = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    async with app.state.engine.connect() as deleting:
        # The user's deletion is under way (its keys go with it) but not yet committed...
        await deleting.execute(text("DELETE FROM users WHERE id = :id"), {"id": user["id"]})
        revoke = asyncio.ensure_future(
            api.client.delete(
                f"/api/v1/users/{user['id']}/api-keys/{key['id']}", headers=api.headers
            )
        )

        async def revoke_waits_for_the_deletion() -> bool:
            waiting = await app.state.engine.connect()
            try:
                found = await waiting.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database() AND query ILIKE '%api_keys%'"
                    )
                )
                return bool(found.scalar_one())
            finally:
                await waiting.close()

        await until(revoke_waits_for_the_deletion, lambda: revoke.done())
        # ...and commits while the revocation waits on it.
        await deleting.commit()
    response = await revoke
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


async def until(
    check: Callable[[], Awaitable[bool]], stop: Callable[[], bool], timeout: float = 20.0
) -> None:
    """Until `check()` holds (or `stop()` says there is nothing left to wait for)."""
    async with asyncio.timeout(timeout):
        while not (stop() or await check()):
            await asyncio.sleep(0.01)  # polling another connection's lock state
