"""Heartbeats: a missed ping opens an incident (the worker checks), the next ping resolves it."""

import time
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.models import Heartbeat
from tests.factories import Api
from tests.integrations.helpers import incidents_of, integration_key, paged_service
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


async def test_crud_validation_and_permissions(api: Api) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    other = await paged_service(api, "http://127.0.0.1:9/unused", name="other")
    created = await api.post(
        "/heartbeats",
        {"service_id": service["id"], "name": "nightly backup", "interval_seconds": 86400},
    )
    assert (created["status"], created["last_ping_at"], created["due_at"]) == (
        "waiting",
        None,
        None,
    )
    duplicate = await api.client.post(
        "/api/v1/heartbeats",
        headers=api.headers,
        json={"service_id": service["id"], "name": "nightly backup", "interval_seconds": 60},
    )
    assert duplicate.status_code == 409
    invalid = await api.client.post(
        "/api/v1/heartbeats",
        headers=api.headers,
        json={"service_id": service["id"], "name": "x", "interval_seconds": 0},
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"][0]["field"] == "interval_seconds"

    listed = await api.get("/heartbeats", params={"service_id": service["id"]})
    assert [h["id"] for h in listed["items"]] == [created["id"]]
    assert (await api.get("/heartbeats", params={"service_id": other["id"]}))["items"] == []
    changed = await api.client.patch(
        f"/api/v1/heartbeats/{created['id']}", headers=api.headers, json={"interval_seconds": 3600}
    )
    assert changed.json()["interval_seconds"] == 3600

    observer = await api.key_for(await api.user("Olga", role="observer"))
    responder = await api.key_for(await api.user("Rita", role="responder"))
    own_key = {"Authorization": f"Bearer {await integration_key(api, service['id'])}"}
    foreign_key = {"Authorization": f"Bearer {await integration_key(api, other['id'])}"}
    ping = f"/api/v1/heartbeats/{created['id']}/ping"
    assert (await api.client.post(ping, headers=observer)).status_code == 403
    assert (await api.client.post(ping, headers=foreign_key)).status_code == 403
    assert (await api.client.post(ping)).status_code == 401
    assert (
        await api.client.post(
            "/api/v1/heartbeats",
            headers=responder,
            json={"service_id": service["id"], "name": "y", "interval_seconds": 60},
        )
    ).status_code == 403
    pinged = await api.client.post(ping, headers=own_key)
    assert pinged.status_code == 200
    assert pinged.json()["status"] == "up"
    assert (await api.client.post(ping, headers=responder)).status_code == 200

    deleted = await api.client.delete(f"/api/v1/heartbeats/{created['id']}", headers=api.headers)
    assert deleted.status_code == 204
    assert (await api.client.post(ping, headers=responder)).status_code == 404


async def test_a_missed_ping_pages_and_the_next_ping_resolves(
    api: Api, client: httpx.AsyncClient, sink: HttpSink, app: Any
) -> None:
    service = await paged_service(api, sink.url("/heartbeat"))
    key = {"Authorization": f"Bearer {await integration_key(api, service['id'])}"}
    heartbeat = await api.post(
        "/heartbeats", {"service_id": service["id"], "name": "backup", "interval_seconds": 3600}
    )
    ping = f"/api/v1/heartbeats/{heartbeat['id']}/ping"
    assert (await client.post(ping, headers=key)).status_code == 200

    # The deadline passes (moved into the past rather than waiting an hour).
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(Heartbeat)
            .where(Heartbeat.id == heartbeat["id"])
            .values(due_at=Heartbeat.last_ping_at)
        )
    [page] = await sink.wait_count("/heartbeat", 1)
    [incident] = await incidents_of(api, service["id"])
    assert page.json()["incident"]["id"] == incident["id"]
    assert incident["dedup_key"] == f"heartbeat:{heartbeat['id']}"
    assert incident["title"] == "Heartbeat 'backup' missed: no ping within 3600s"
    assert incident["severity"] == "critical"
    assert incident["details"]["heartbeat_id"] == heartbeat["id"]
    assert (await api.get(f"/heartbeats/{heartbeat['id']}"))["status"] == "down"

    pinged = await client.post(ping, headers=key)
    assert pinged.json()["status"] == "up"
    [incident] = await incidents_of(api, service["id"])
    assert incident["status"] == "resolved"
    assert incident["resolved_by"] == {"type": "heartbeat", "id": heartbeat["id"], "name": "backup"}
    assert len(sink.at("/heartbeat")) == 1


async def test_a_one_second_heartbeat_is_missed_for_real(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    service = await paged_service(api, sink.url("/heartbeat-fast"))
    heartbeat = await api.post(
        "/heartbeats", {"service_id": service["id"], "name": "fast", "interval_seconds": 1}
    )
    pinged_at = time.time()
    pinged = await client.post(f"/api/v1/heartbeats/{heartbeat['id']}/ping", headers=api.headers)
    assert pinged.status_code == 200
    [page] = await sink.wait_count("/heartbeat-fast", 1)
    assert page.at - pinged_at >= 1.0, "not missed before its interval has passed"
    [incident] = await incidents_of(api, service["id"])
    assert incident["status"] == "triggered"
