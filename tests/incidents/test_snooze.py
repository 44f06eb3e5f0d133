"""Snooze (acknowledged until T, then re-triggered) and un-acknowledge (restart at level 1 now)."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.factories import Api
from tests.incidents.helpers import pages, policy, service, types
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def _incident(api: Api, sink: HttpSink, path: str, rules: list[int]) -> dict[str, Any]:
    ada = await api.user(f"Ada{path.replace('/', ' ')}", webhook=sink.url(path), rules=rules)
    chain = await policy(api, [(60, [ada["id"]], "unresolved")], name=f"p{path}")
    svc = await service(api, chain["id"], name=f"s{path}")
    incident = await api.trigger(svc["id"])
    await sink.wait_count(path, 1)
    return incident


async def test_snooze_silences_then_retriggers_at_level_one(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    # A delayed rule of an `unresolved` level would survive a plain ack; a snooze silences it too.
    incident = await _incident(api, sink, "/snooze", rules=[0, 30])
    snoozed = await api.post(
        f"/incidents/{incident['id']}/snooze", {"duration_seconds": 1}, status=200
    )
    assert snoozed["changed"] is True
    body = snoozed["incident"]
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"]["name"] == "Root"
    assert body["escalation"]["next_due_at"] is None
    until = datetime.fromisoformat(body["snoozed_until"])
    assert until - datetime.fromisoformat(body["acknowledged_at"]) == timedelta(seconds=1)
    assert [p.status for p in await pages(app, incident["id"])] == ["sent", "cancelled"]

    await jobs.wait_prefix(f"ack-timeout:{incident['id']}:{until.timestamp():.6f}")
    [_, again] = await sink.wait_count("/snooze", 2)
    assert (again.json()["level"], again.json()["loop"]) == (1, 0)
    assert again.at >= until.timestamp()
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "triggered"
    assert current["snoozed_until"] is None
    timeline = await api.timeline(incident["id"])
    assert types(timeline)[:7] == [
        "triggered",
        "escalated",
        "notified",
        "acknowledged",
        "snoozed",
        "notification_cancelled",
        "unacknowledged",
    ]
    snooze = timeline[4]
    assert snooze["actor"]["name"] == "Root"
    assert snooze["details"]["duration_seconds"] == 1
    assert snooze["details"]["cancelled_notifications"] == 1
    # The 30-second rule survived the ack (the level is `unresolved`); the snooze cancelled it.
    cancelled = timeline[5]["details"]
    assert (cancelled["channel"], cancelled["reason"]) == ("webhook", "incident snoozed")
    assert timeline[6]["details"]["reason"] == "snooze ended"


async def test_snooze_bounds_and_states(api: Api, sink: HttpSink) -> None:
    incident = await _incident(api, sink, "/snooze-bounds", rules=[0])
    url = f"/api/v1/incidents/{incident['id']}/snooze"
    for duration in (0, 604801, "soon"):
        response = await api.client.post(
            url, json={"duration_seconds": duration}, headers=api.headers
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "duration_seconds"
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    response = await api.client.post(url, json={"duration_seconds": 60}, headers=api.headers)
    assert response.status_code == 409
    assert "resolved" in response.json()["error"]["message"]
    assert "snoozed" in response.json()["error"]["message"]


async def test_unacknowledge_restarts_at_level_one_now(
    api: Api, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    incident = await _incident(api, sink, "/unack", rules=[0])
    not_acked = await api.post(f"/incidents/{incident['id']}/unacknowledge", {}, status=200)
    assert not_acked["changed"] is False
    assert "not acknowledged" in not_acked["message"]

    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    result = await api.post(f"/incidents/{incident['id']}/unacknowledge", {}, status=200)
    assert result["changed"] is True
    assert result["incident"]["status"] == "triggered"
    assert result["incident"]["acknowledged_by"] is None
    [_, again] = await sink.wait_count("/unack", 2)
    assert (again.json()["level"], again.json()["loop"]) == (1, 0)
    entry = next(i for i in await api.timeline(incident["id"]) if i["type"] == "unacknowledged")
    assert entry["actor"]["name"] == "Root"
    # Level 1 was paged again although it had been paged at the same position before (the
    # sink hears the page before the deliverer commits its outcome).

    async def both_sent() -> bool:
        return [p.status for p in await pages(app, incident["id"])] == ["sent", "sent"]

    await jobs.until(both_sent)

    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    response = await api.client.post(
        f"/api/v1/incidents/{incident['id']}/unacknowledge", headers=api.headers
    )
    assert response.status_code == 409


async def test_observers_and_integrations_cannot_act(api: Api, sink: HttpSink) -> None:
    incident = await _incident(api, sink, "/unack-auth", rules=[0])
    watcher = await api.user("Watcher", role="observer")
    headers = await api.key_for(watcher)
    for action, body in (
        ("unacknowledge", {}),
        ("snooze", {"duration_seconds": 60}),
        ("escalate", {}),
        ("reassign", {"user_id": watcher["id"]}),
        ("notes", {"text": "hi"}),
        ("merge", {"source_incident_ids": [incident["id"]]}),
    ):
        url = f"/api/v1/incidents/{incident['id']}/{action}"
        response = await api.client.post(url, json=body, headers=headers)
        assert response.status_code == 403, action
        response = await api.client.post(url, json=body)
        assert response.status_code == 401, action
