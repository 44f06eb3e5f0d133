"""A key's grant is read once per `api_key_cache_seconds`: changes made here apply at once,
changes made by another process within that time."""

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from app.auth import GRANTS
from tests.factories import Api


async def _key(api: Api, role: str = "responder") -> tuple[dict[str, Any], str, dict[str, str]]:
    user = await api.user(f"Kay {uuid.uuid4().hex[:6]}", role=role)
    created = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    return user, created["id"], {"Authorization": f"Bearer {created['key']}"}


async def _status(api: Api, headers: dict[str, str]) -> int:
    return (await api.client.get("/api/v1/incidents", headers=headers)).status_code


async def test_a_key_revoked_by_another_process_is_refused_once_the_grant_lapses(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(GRANTS, "clock", lambda: now[0])
    _, key_id, headers = await _key(api)
    assert await _status(api, headers) == 200
    # Another process revokes it: a plain statement, outside this process's ORM sessions.
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE api_keys SET revoked_at = now() WHERE id = :id"), {"id": key_id}
        )
    ttl = app.state.settings.api_key_cache_seconds
    assert ttl > 0
    now[0] += ttl / 2
    assert await _status(api, headers) == 200  # the documented window: the grant is still fresh
    now[0] += ttl / 2
    assert await _status(api, headers) == 401


async def test_a_key_revoked_through_this_process_is_refused_at_once(api: Api) -> None:
    user, key_id, headers = await _key(api)
    assert await _status(api, headers) == 200
    response = await api.client.delete(
        f"/api/v1/users/{user['id']}/api-keys/{key_id}", headers=api.headers
    )
    assert response.status_code == 200
    assert await _status(api, headers) == 401


async def test_a_user_demoted_or_deleted_here_loses_the_grant_at_once(api: Api) -> None:
    user, _, headers = await _key(api)
    # Triggering needs the responder role: a trigger for a missing service is refused for the
    # service (422) while the key may respond, and for the role (403) once its user observes.
    trigger = "/api/v1/incidents"
    body = {"service_id": str(uuid.uuid4()), "title": "nothing"}
    assert (await api.client.post(trigger, json=body, headers=headers)).status_code == 422
    demoted = await api.client.patch(
        f"/api/v1/users/{user['id']}", json={"role": "observer"}, headers=api.headers
    )
    assert demoted.status_code == 200
    assert (await api.client.post(trigger, json=body, headers=headers)).status_code == 403
    deleted = await api.client.delete(f"/api/v1/users/{user['id']}", headers=api.headers)
    assert deleted.status_code == 204
    assert await _status(api, headers) == 401


async def test_without_a_cache_every_request_reads_the_key(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "api_key_cache_seconds", 0.0)
    _, key_id, headers = await _key(api)
    assert await _status(api, headers) == 200
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE api_keys SET revoked_at = now() WHERE id = :id"), {"id": key_id}
        )
    assert await _status(api, headers) == 401
