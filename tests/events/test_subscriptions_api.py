"""The webhook subscription API: admins only, the secret shown once, strict validation."""

import uuid

import httpx

from tests.factories import Api


async def test_crud_shows_the_secret_only_on_creation(api: Api) -> None:
    service_id = str(uuid.uuid4())
    created = await api.post(
        "/webhook-subscriptions",
        {
            "url": "https://hooks.example.com/stairway",
            "description": "status page",
            "event_types": ["incident.triggered", "incident.resolved"],
            "service_ids": [service_id],
        },
    )
    assert len(created["secret"]) == 64
    assert created["enabled"] is True
    assert created["event_types"] == ["incident.triggered", "incident.resolved"]
    assert created["service_ids"] == [service_id]
    shown = await api.get(f"/webhook-subscriptions/{created['id']}")
    assert "secret" not in shown
    listed = await api.get("/webhook-subscriptions")
    assert [s["id"] for s in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]

    response = await api.client.patch(
        f"/api/v1/webhook-subscriptions/{created['id']}",
        headers=api.headers,
        json={"event_types": [], "enabled": False},
    )
    assert response.status_code == 200
    assert response.json()["event_types"] == []
    assert response.json()["enabled"] is False

    deleted = await api.client.delete(
        f"/api/v1/webhook-subscriptions/{created['id']}", headers=api.headers
    )
    assert deleted.status_code == 204
    await api.get(f"/webhook-subscriptions/{created['id']}", status=404)


async def test_bad_subscriptions_are_rejected_naming_the_field(api: Api) -> None:
    cases = [
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "https://example.com", "event_types": ["incident.exploded"]}, "event_types.0"),
        ({"url": "https://example.com", "service_ids": ["nope"]}, "service_ids.0"),
        ({"url": "https://example.com", "secret": "mine"}, "secret"),
    ]
    for body, field in cases:
        error = await api.post("/webhook-subscriptions", body, status=422)
        assert field in [d["field"] for d in error["error"]["details"]], error


async def test_only_admins_manage_subscriptions(api: Api, client: httpx.AsyncClient) -> None:
    created = await api.post("/webhook-subscriptions", {"url": "https://example.com/h"})
    for role in ("responder", "observer"):
        user = await api.post(
            "/users", {"name": role, "email": f"{role}@example.com", "role": role}
        )
        headers = await api.key_for(user)
        paths = [
            ("GET", "/api/v1/webhook-subscriptions"),
            ("POST", "/api/v1/webhook-subscriptions"),
            ("GET", f"/api/v1/webhook-subscriptions/{created['id']}"),
            ("PATCH", f"/api/v1/webhook-subscriptions/{created['id']}"),
            ("DELETE", f"/api/v1/webhook-subscriptions/{created['id']}"),
            ("GET", f"/api/v1/webhook-subscriptions/{created['id']}/deliveries"),
        ]
        for method, path in paths:
            body = {"url": "https://example.com/x"} if method in ("POST", "PATCH") else None
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == 403, (role, method, path)
    response = await client.get("/api/v1/webhook-subscriptions")
    assert response.status_code == 401
