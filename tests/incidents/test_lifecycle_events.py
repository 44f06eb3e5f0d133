"""Lifecycle actions reach outbound webhook subscribers as incident events."""

import pytest

from tests.factories import Api
from tests.incidents.helpers import policy, service
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


async def test_unack_reassign_note_and_merge_emit_events(api: Api, sink: HttpSink) -> None:
    await api.post("/webhook-subscriptions", {"url": sink.url("/lc-events")})
    ada = await api.user("Ada", webhook=sink.url("/lc-ada"))
    bob = await api.user("Bob", webhook=sink.url("/lc-bob"))
    chain = await policy(api, [(600, [ada["id"]], "unacknowledged")], name="lc-events")
    svc = await service(api, chain["id"], name="lc-events")
    incident = await api.trigger(svc["id"], dedup_key="one")
    duplicate = await api.trigger(svc["id"], dedup_key="two")
    await sink.wait_count("/lc-ada", 2)
    base = f"/incidents/{incident['id']}"
    await api.post(f"{base}/acknowledge", {}, status=200)
    await api.post(f"{base}/unacknowledge", {}, status=200)
    await api.post(f"{base}/reassign", {"user_id": bob["id"]}, status=200)
    await api.post(f"{base}/notes", {"text": "looking"})
    await api.post(f"{base}/merge", {"source_incident_ids": [duplicate["id"]]}, status=200)

    received = await sink.wait_count("/lc-events", 7)
    events = [r.json()["event"] for r in received]
    mine = [
        (e["type"], e["actor"]["name"]) for e in events if e["incident"]["id"] == incident["id"]
    ]
    assert mine == [
        ("incident.triggered", "Root"),
        ("incident.acknowledged", "Root"),
        ("incident.unacknowledged", "Root"),
        ("incident.reassigned", "Root"),
        ("incident.note_added", "Root"),
    ]
    theirs = [e["type"] for e in events if e["incident"]["id"] == duplicate["id"]]
    assert theirs == ["incident.triggered", "incident.resolved"]
    resolved = next(e for e in events if e["type"] == "incident.resolved")
    assert resolved["incident"]["merged_into_id"] == incident["id"]
