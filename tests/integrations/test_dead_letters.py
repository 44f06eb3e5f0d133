"""One bad inbound event never stops the others: it is tried a few times, then set aside as dead
with its error, listed for admins, and retried or discarded; the rest are applied in order."""

import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.db import transaction
from app.integrations import drain
from app.integrations.deadletter import MAX_ATTEMPTS
from app.integrations.inbox import inbox_wakeup, record
from app.integrations.pagerduty import parse_event
from app.models import utcnow
from app.security import hash_key
from tests.factories import Api
from tests.integrations.helpers import incidents_of, integration_key, paged_service
from tests.support import JobTracker

# Deeper than pydantic's JSON reader goes: the door refuses it now, but an event stored
# before (or by a bug) must not stop the inbox.
POISON_DEPTH = 250


def _trigger(key: str, dedup_key: str, summary: str = "disk full") -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }


async def _queue(app: Any, key: str, dedup_key: str, summary: str = "disk full") -> None:
    """Queue a trigger as /v2/enqueue does, without waking a worker."""
    event = parse_event(_trigger(key, dedup_key, summary))
    assert await record(app.state.pg, key_hash=hash_key(key), event=event, received_at=utcnow())


async def _queue_poison(app: Any, service_id: str, dedup_key: str) -> None:
    details = "1"
    for _ in range(POISON_DEPTH):
        details = '{"a":' + details + "}"
    trigger = (
        '{"title": "poison", "severity": "error", "urgency": "high", '
        f'"dedup_key": "{dedup_key}", "source": "x", "details": {details}}}'
    )
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO inbound_events (service_id, action, dedup_key, trigger, actor,"
                " received_at) VALUES (:service, 'trigger', :key, CAST(:trigger AS jsonb),"
                ' \'{"type": "integration", "name": "test"}\', now())'
            ),
            {"service": service_id, "key": dedup_key, "trigger": trigger},
        )


async def _dead(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.get("/inbound-events", params={"status": "dead"}))[
        "items"
    ]
    return items


async def _drain_once(app: Any) -> drain.Drained:
    async with transaction(app.state.sessions) as session:
        # A worker job left over from an earlier test may hold the inbox: wait for it.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": drain.DRAIN_LOCK}
        )
        return await drain.drain_batch(session=session)


async def test_a_failing_event_holds_back_only_its_own_key_until_it_is_set_aside(
    api: Api, app: Any
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    await _queue(app, key, "before")
    await _queue_poison(app, service["id"], "poison")
    await _queue(app, key, "poison", "after the poison, same key")
    await _queue(app, key, "after")
    first = await _drain_once(app)
    # The others are applied at once; the poison waits for another try, and so does the
    # event of its key queued after it (applying it first would change their order).
    assert (first.applied, first.failed, first.dead) == (2, 1, 0)
    assert {i["dedup_key"] for i in await incidents_of(api, service["id"])} == {"before", "after"}
    [queued_poison, held] = (await api.get("/inbound-events", params={"status": "queued"}))["items"]
    assert (queued_poison["attempts"], held["attempts"]) == (1, 0)
    assert "recursion" in queued_poison["error"].lower()
    for _ in range(MAX_ATTEMPTS - 2):
        assert (await _drain_once(app)).failed == 1
    last = await _drain_once(app)
    assert (last.applied, last.dead) == (1, 1)
    incidents = {i["dedup_key"]: i for i in await incidents_of(api, service["id"])}
    assert incidents["poison"]["title"] == "after the poison, same key"
    [dead] = await _dead(api)
    assert (dead["dedup_key"], dead["attempts"], dead["status"]) == ("poison", 3, "dead")
    assert (await api.get("/inbound-events", params={"status": "queued"}))["items"] == []


@pytest.mark.usefixtures("worker")
async def test_a_poison_event_between_good_events_of_three_services_is_set_aside(
    api: Api,
    app: Any,
    jobs: JobTracker,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    services = [
        await paged_service(api, "http://127.0.0.1:9/unused", name=name)
        for name in ("checkout", "search", "billing")
    ]
    keys = [await integration_key(api, s["id"]) for s in services]
    await _queue(app, keys[0], "cpu")
    await _queue(app, keys[1], "disk")
    await _queue_poison(app, services[1]["id"], "deep-1")
    await _queue(app, keys[2], "latency")
    await _queue_poison(app, services[2]["id"], "deep-2")
    await _queue(app, keys[0], "memory")
    caplog.set_level(logging.WARNING, logger="app.integrations.deadletter")
    await app.state.enqueue([inbox_wakeup(utcnow())])

    async def settled() -> bool:
        return len(await _dead(api)) == 2

    await jobs.until(settled, timeout=30)
    opened = {s["name"]: await incidents_of(api, s["id"]) for s in services}
    assert {k: sorted(i["dedup_key"] for i in v) for k, v in opened.items()} == {
        "checkout": ["cpu", "memory"],
        "search": ["disk"],
        "billing": ["latency"],
    }
    first, second = await _dead(api)
    assert (first["service_id"], first["dedup_key"]) == (services[1]["id"], "deep-1")
    assert (second["service_id"], second["dedup_key"]) == (services[2]["id"], "deep-2")
    assert first["attempts"] == MAX_ATTEMPTS
    assert "recursion" in first["error"].lower()
    assert json.loads(first["trigger"])["title"] == "poison"
    # Said in the log, with the error, and counted.
    dead_lines = [r for r in caplog.records if "set aside as dead" in r.getMessage()]
    assert len(dead_lines) == 2
    assert "recursion" in dead_lines[0].getMessage().lower()
    metrics = (await client.get("/metrics")).text
    assert "stairway_inbound_dead_events 2.0" in metrics
    assert "stairway_inbound_dead_total" in metrics

    # The cause fixed (here, the stored details repaired), a retry opens the incident.
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE inbound_dead_events SET trigger = jsonb_set(trigger, '{details}',"
                " '{\"repaired\": true}') WHERE id = :id"
            ),
            {"id": first["id"]},
        )
    retried = await api.post(f"/inbound-events/{first['id']}/retry", None, status=200)
    assert (retried["status"], retried["retried_id"]) == ("queued", first["id"])

    async def opened_after_retry() -> bool:
        return any(i["dedup_key"] == "deep-1" for i in await incidents_of(api, services[1]["id"]))

    await jobs.until(opened_after_retry, timeout=30)
    [remaining] = await _dead(api)
    assert remaining["id"] == second["id"]
    # Discarded: gone for good.
    discard = await api.client.delete(f"/api/v1/inbound-events/{second['id']}", headers=api.headers)
    assert discard.status_code == 204
    assert await _dead(api) == []
    again = await api.client.post(
        f"/api/v1/inbound-events/{second['id']}/retry", headers=api.headers
    )
    assert again.status_code == 404
    assert "stairway_inbound_dead_events 0.0" in (await client.get("/metrics")).text
    # Both acts are in the audit log: who, and which event.
    audit = (await api.get("/audit", params={"resource_type": "inbound_event"}))["items"]
    assert [(e["action"], e["resource_id"]) for e in audit] == [
        ("discard", services[2]["id"]),
        ("retry", services[1]["id"]),
    ]
    discarded, retried_entry = audit
    assert discarded["changes"] == {
        "event_id": second["id"],
        "action": "trigger",
        "dedup_key": "deep-2",
    }
    assert retried_entry["changes"]["event_id"] == first["id"]
    assert retried_entry["changes"]["new_id"] == retried["id"]
    assert [e["actor"]["type"] for e in audit] == ["user", "user"]
    assert [e["actor"]["name"] for e in audit] == ["Root", "Root"]


async def test_dead_events_are_for_admins_only(api: Api) -> None:
    responder = await api.key_for(await api.user("Rita Responder"))
    response = await api.client.get("/api/v1/inbound-events", headers=responder)
    assert response.status_code == 403
    response = await api.client.delete("/api/v1/inbound-events/1", headers=responder)
    assert response.status_code == 403
