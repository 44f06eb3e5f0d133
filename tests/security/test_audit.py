"""The audit log: every configuration change, with its actor, in the change's transaction."""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from app.audit_log import set_actor
from app.db import transaction
from app.models import AuditEntry, User
from tests.factories import Api


async def _audit(api: Api, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get("/audit", params=params))["items"]
    return items


async def test_create_update_delete_are_recorded_with_the_actor(api: Api) -> None:
    user = await api.user("Ada Lovelace")
    patched = await api.client.patch(
        f"/api/v1/users/{user['id']}", headers=api.headers, json={"time_zone": "Europe/London"}
    )
    assert patched.status_code == 200
    deleted = await api.client.delete(f"/api/v1/users/{user['id']}", headers=api.headers)
    assert deleted.status_code == 204

    entries = await _audit(api, resource_id=user["id"])
    assert [e["action"] for e in entries] == ["delete", "update", "create"]
    assert {e["resource_type"] for e in entries} == {"user"}
    assert {e["actor"]["name"] for e in entries} == {"Root"}
    assert entries[1]["changes"] == {"time_zone": {"old": "UTC", "new": "Europe/London"}}
    assert entries[2]["changes"]["email"] == {"new": "ada.lovelace@example.com"}


async def test_secrets_are_redacted_and_runtime_changes_are_not_audited(api: Api) -> None:
    created = await api.post("/webhook-subscriptions", {"url": "https://hooks.example.com/x"})
    user = await api.user("Rita")
    key = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    policy = await api.policy([(60, [user["id"]])])
    service = await api.service(policy["id"])
    integration = await api.post(
        f"/services/{service['id']}/integration-keys", {"name": "prometheus"}
    )
    heartbeat = await api.post(
        "/heartbeats", {"service_id": service["id"], "name": "backup", "interval_seconds": 60}
    )
    await api.post(f"/heartbeats/{heartbeat['id']}/ping", {}, status=200)

    response = await api.client.get("/api/v1/audit", headers=api.headers)
    text = response.text
    for secret in (created["secret"], key["key"], integration["key"]):
        assert secret not in text
    subscription = await _audit(api, resource_id=created["id"])
    assert subscription[0]["changes"]["secret"] == {"new": "[redacted]"}
    beats = await _audit(api, resource_type="heartbeat")
    assert [b["action"] for b in beats] == ["create"]
    policies = await _audit(api, resource_type="escalation_policy")
    assert [p["action"] for p in policies] == ["create"]
    assert policies[0]["changes"]["levels"] == "changed"


async def test_pages_through_the_log_newest_first(api: Api) -> None:
    for n in range(5):
        await api.user(f"User {n}")
    first = await api.get("/audit", params={"resource_type": "user", "limit": 2})
    assert len(first["items"]) == 2
    seen = [e["resource_id"] for e in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await api.get("/audit", params={"resource_type": "user", "cursor": cursor})
        seen += [e["resource_id"] for e in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 6  # five users and the admin
    later = await api.get("/audit", params={"since": "2999-01-01T00:00:00Z"})
    assert later["items"] == []
    await api.get("/audit", params={"cursor": "not-a-cursor"}, status=422)


async def test_the_entry_commits_and_rolls_back_with_the_change(app: Any) -> None:
    sessions = app.state.sessions

    async def failing_change() -> None:
        async with transaction(sessions) as session:
            set_actor(session, {"type": "user", "id": "x", "name": "Mallory"})
            session.add(User(name="Ghost", email="ghost@example.com", role="admin"))
            await session.flush()
            raise RuntimeError("the request failed after the change was flushed")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with transaction(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 0

    async with transaction(sessions) as session:
        set_actor(session, {"type": "user", "id": "x", "name": "Alice"})
        session.add(User(name="Kept", email="kept@example.com", role="admin"))
    async with transaction(sessions) as session:
        entries = (await session.scalars(select(AuditEntry))).all()
        assert [(e.action, e.actor["name"]) for e in entries] == [("create", "Alice")]
        user = await session.scalar(select(User).where(col(User.email) == "kept@example.com"))
        assert user is not None
        assert entries[0].resource_id == user.id


async def test_replacing_a_policys_levels_is_one_update_of_the_policy(api: Api) -> None:
    user = await api.user("Rita")
    policy = await api.policy([(60, [user["id"]])])
    levels = [{"escalate_after_seconds": 120, "targets": [{"type": "user", "id": user["id"]}]}]
    response = await api.client.patch(
        f"/api/v1/escalation-policies/{policy['id']}",
        headers=api.headers,
        json={"repeat": 2, "levels": levels},
    )
    assert response.status_code == 200, response.text
    entries = await _audit(api, resource_id=policy["id"])
    assert [e["action"] for e in entries] == ["update", "create"]
    assert entries[0]["changes"]["repeat"] == {"old": 0, "new": 2}
    assert entries[0]["changes"]["levels"] == "changed"
