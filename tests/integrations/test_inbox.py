"""Events accepted on /v2/enqueue are queued durably and applied in the order they arrived."""

from typing import Any

import httpx
import pytest

from app.db import transaction
from app.integrations import drain
from app.integrations.inbox import oldest_queued, record
from app.integrations.pagerduty import parse_event
from app.models import utcnow
from app.security import hash_key
from tests.factories import Api
from tests.integrations.helpers import (
    events_applied,
    incidents_of,
    integration_key,
    paged_service,
)
from tests.support import HttpSink, JobTracker


def _trigger(key: str, dedup_key: str, summary: str = "disk full") -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }


async def _send(client: httpx.AsyncClient, *events: dict[str, Any]) -> None:
    for event in events:
        response = await client.post("/v2/enqueue", json=event)
        assert response.status_code == 202, response.text


async def _drain_all(app: Any) -> int:
    """Apply the whole inbox in batches, as the worker job does; how many events."""
    applied = 0
    while True:
        # No worker runs in these tests: this is the only drain.
        async with transaction(app.state.sessions) as session:
            drained = await drain.drain_batch(session=session, limit=7)
        applied += drained.applied
        if not drained.more:
            return applied


async def test_a_batch_keeps_the_order_of_triggers_and_resolves_of_one_key(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    resolve = {"routing_key": key, "event_action": "resolve", "dedup_key": "disk"}
    await _send(
        client,
        _trigger(key, "disk", "disk 91%"),
        _trigger(key, "disk", "disk 95%"),
        resolve,
        _trigger(key, "disk", "disk full again"),
        _trigger(key, "other"),
    )
    # Nothing is applied until a worker drains the inbox; then all of it, in order.
    assert await incidents_of(api, service["id"]) == []
    assert await _drain_all(app) == 5
    first, second, other = await incidents_of(api, service["id"])
    assert (first["status"], first["alert_count"], first["title"]) == ("resolved", 2, "disk 91%")
    assert first["resolved_by"]["type"] == "integration"
    assert (second["status"], second["alert_count"]) == ("triggered", 1)
    assert second["title"] == "disk full again"
    assert (other["dedup_key"], other["status"]) == ("other", "triggered")
    types = [e["type"] for e in await api.timeline(first["id"])]
    assert types[:2] == ["triggered", "deduplicated"]
    assert "resolved" in types
    async with app.state.sessions() as session:
        assert await oldest_queued(session) is None


async def test_a_trigger_for_a_key_opened_elsewhere_meanwhile_adds_to_that_incident(
    api: Api, client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    await _send(client, _trigger(key, "cpu"), _trigger(key, "cpu"))
    # The same key opened through the REST API after the batch looked for open incidents.
    opened = await api.post(
        "/incidents",
        {"service_id": service["id"], "title": "cpu hot", "dedup_key": "cpu"},
    )

    async def nothing_open(*_: Any) -> dict[Any, Any]:
        return {}

    monkeypatch.setattr(drain, "lock_open_by_key", nothing_open)
    assert await _drain_all(app) == 2
    [incident] = await incidents_of(api, service["id"])
    assert incident["id"] == opened["id"]
    assert incident["alert_count"] == 3


@pytest.mark.usefixtures("worker")
async def test_a_flood_of_one_alert_opens_one_incident_and_pages_once(
    api: Api, client: httpx.AsyncClient, app: Any, jobs: JobTracker, sink: HttpSink
) -> None:
    service = await paged_service(api, sink.url("/flood"))
    key = await integration_key(api, service["id"])
    await _send(client, *[_trigger(key, "flood", f"alert {n}") for n in range(120)])
    await events_applied(app, jobs)
    [incident] = await incidents_of(api, service["id"])
    assert incident["alert_count"] == 120
    assert incident["title"] == "alert 0"
    await sink.wait_count("/flood", 1)

    async def delivery_recorded() -> bool:
        # The sink hears the page before the deliverer commits its outcome.
        return any(e["type"] == "notified" for e in await api.timeline(incident["id"]))

    await jobs.until(delivery_recorded)
    timeline = await api.timeline(incident["id"])
    assert sum(e["type"] == "deduplicated" for e in timeline) == 119
    assert sum(e["type"] == "notified" for e in timeline) == 1


@pytest.mark.usefixtures("worker")
async def test_an_event_whose_wake_up_was_lost_is_applied_by_the_sweeper(
    api: Api, app: Any, jobs: JobTracker
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    # Written as the API writes it, but with no wake-up (as if Redis had lost it).
    event = parse_event(_trigger(key, "lost"))
    assert await record(app.state.pg, key_hash=hash_key(key), event=event, received_at=utcnow())
    await events_applied(app, jobs)
    [incident] = await incidents_of(api, service["id"])
    assert incident["dedup_key"] == "lost"
