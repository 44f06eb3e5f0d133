"""Trigger → page tier by tier → acknowledge stops it, end to end on a real worker and sink."""

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import Notification
from app.paging.delivery import delivery_wakeup
from app.paging.step import EARLY_TOLERANCE
from app.paging.wake import step_wakeup
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def _types(timeline: list[dict[str, Any]]) -> list[str]:
    return [item["type"] for item in timeline]


async def test_two_levels_escalate_and_an_ack_silences_everything(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/ada"))
    bob = await api.user("Bob", webhook=sink.url("/bob"))
    # Level 2's own timeout leaves the test time to acknowledge before the chain is exhausted.
    policy = await api.policy([(1, [ada["id"]]), (4, [bob["id"]])], name="two-level")
    service = await api.service(policy["id"])

    incident = await api.trigger(service["id"], dedup_key="lat-p99")
    assert incident["status"] == "triggered"
    assert incident["escalation"]["level"] == 1

    [page] = await sink.wait_count("/ada", 1)
    body = page.json()
    assert body["event"] == "incident.page"
    assert body["level"] == 1
    assert body["user"] == {"id": ada["id"], "name": "Ada"}
    assert body["incident"]["id"] == incident["id"]
    assert set(body["actions"]) == {"acknowledge", "resolve"}
    secret = ada["contact_method"]["signing_secret"]
    assert page.signed_by(secret)

    # Nobody acknowledges: level 2 is paged once escalate_after_seconds has passed.
    [bob_page] = await sink.wait_count("/bob", 1)
    assert bob_page.json()["level"] == 2
    # Not before level 1's timeout, counted from when level 1 was entered (the trigger).
    level_two_due = datetime.fromisoformat(incident["created_at"]).timestamp() + 1
    assert bob_page.at >= level_two_due - EARLY_TOLERANCE.total_seconds()

    at_level_two = await api.get(f"/incidents/{incident['id']}")
    restart_due = datetime.fromisoformat(at_level_two["escalation"]["next_due_at"])
    acked = await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    assert acked["changed"] is True
    assert acked["incident"]["status"] == "acknowledged"
    ack_done = acked["incident"]["acknowledged_at"]

    # The wake-up for the step that would have restarted the chain comes due and does nothing.
    await jobs.wait_prefix(step_wakeup(restart_due).job_id)
    assert len(sink.at("/ada")) == 1
    assert len(sink.at("/bob")) == 1

    timeline = await api.timeline(incident["id"])
    types = _types(timeline)
    # Level 1's page may be recorded after level 2 was entered on a busy machine (its delivery
    # took longer than the 1 s level): the order between levels is not the point, the ack is.
    assert (types[0], types[-1]) == ("triggered", "acknowledged")
    assert sorted(types[1:-1]) == ["escalated", "escalated", "notified", "notified"]
    assert all(item["at"] <= ack_done for item in timeline[:-1])
    again = await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    assert again["changed"] is False
    assert "already acknowledged" in again["message"]


async def test_a_page_carries_the_incident_exactly_as_it_was_raised(
    api: Api, sink: HttpSink
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/exactly"))
    policy = await api.policy([(600, [ada["id"]])], name="exact")
    service = await api.service(policy["id"])
    # A number beyond 64 bits and text beyond ASCII, as an alert's details may hold them.
    details = {"inode": 2**70, "volume": -(2**64), "host": "bäckerei-01", "note": "füll ✓"}
    incident = await api.trigger(service["id"], title="Plattenplatz knapp ✓", details=details)

    [page] = await sink.wait_count("/exactly", 1)
    body = page.json()
    assert body["incident"]["id"] == incident["id"]
    assert body["incident"]["title"] == "Plattenplatz knapp ✓"
    assert body["incident"]["details"] == details
    assert page.signed_by(ada["contact_method"]["signing_secret"])


async def test_fifty_concurrent_triggers_with_one_key_open_one_incident(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/dedup"))
    policy = await api.policy([(60, [ada["id"]])], name="dedup")
    service = await api.service(policy["id"])
    before = len(sink.at("/dedup"))

    results = await asyncio.gather(
        *(
            api.client.post(
                "/api/v1/incidents",
                headers=api.headers,
                json={"service_id": service["id"], "title": "disk full", "dedup_key": "disk-1"},
            )
            for _ in range(50)
        )
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 49 + [201]
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 1
    [incident_id] = ids
    incident = await api.get(f"/incidents/{incident_id}")
    assert incident["alert_count"] == 50
    await sink.wait_count("/dedup", before + 1)
    async with app.state.sessions() as session:
        [page_id] = await session.scalars(
            select(col(Notification.id)).where(col(Notification.incident_id) == incident_id)
        )
    await jobs.page_settled(page_id)
    listed = await api.get("/incidents", params={"service_id": service["id"]})
    assert [i["id"] for i in listed["items"]] == [incident_id]
    assert _types(await api.timeline(incident_id)).count("deduplicated") == 49


async def test_the_policy_is_frozen_onto_the_incident(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/snap-ada"))
    bob = await api.user("Bob", webhook=sink.url("/snap-bob"))
    carol = await api.user("Carol", webhook=sink.url("/snap-carol"))
    policy = await api.policy([(1, [ada["id"]]), (1, [bob["id"]])], name="snap")
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    await sink.wait_count("/snap-ada", 1)

    # Rewrite the policy to page Carol only, then move the service off it and delete it.
    await api.client.patch(
        f"/api/v1/escalation-policies/{policy['id']}",
        headers=api.headers,
        json={
            "levels": [
                {"escalate_after_seconds": 1, "targets": [{"type": "user", "id": carol["id"]}]}
            ]
        },
    )
    other = await api.policy([(60, [carol["id"]])], name="other")
    response = await api.client.patch(
        f"/api/v1/services/{service['id']}",
        headers=api.headers,
        json={"escalation_policy_id": other["id"]},
    )
    assert response.status_code == 200
    response = await api.client.delete(
        f"/api/v1/escalation-policies/{policy['id']}", headers=api.headers
    )
    assert response.status_code == 204

    [bob_page] = await sink.wait_count("/snap-bob", 1)
    assert bob_page.json()["incident"]["id"] == incident["id"]
    assert sink.at("/snap-carol") == []


async def test_repeat_then_exhausted_and_the_incident_stays_open(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/repeat"))
    policy = await api.policy([(1, [ada["id"]])], repeat=1, name="repeat")
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    pages = await sink.wait_count("/repeat", 2)
    assert [(p.json()["level"], p.json()["loop"]) for p in pages] == [(1, 0), (1, 1)]
    await jobs.step_applied(incident["id"], 2)
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "triggered"
    assert current["escalation"]["exhausted"] is True
    assert current["escalation"]["next_due_at"] is None
    types = _types(await api.timeline(incident["id"]))
    assert types.count("repeated") == 1
    assert types[-1] == "exhausted" or "exhausted" in types
    assert len(sink.at("/repeat")) == 2


async def test_a_level_nobody_can_be_reached_at_is_skipped_at_once(
    api: Api, sink: HttpSink
) -> None:
    nobody = await api.user("Nobody")  # no contact method
    bob = await api.user("Bob", webhook=sink.url("/skip-bob"))
    policy = await api.policy([(1800, [nobody["id"]]), (600, [bob["id"]])], name="skip")
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    [page] = await sink.wait_count("/skip-bob", 1)
    assert page.json()["level"] == 2
    timeline = await api.timeline(incident["id"])
    skipped = next(i for i in timeline if i["type"] == "level_skipped")
    assert skipped["details"]["level"] == 1
    assert skipped["details"]["reasons"][0]["reason"] == "user has no contact method"
    escalated = next(i for i in timeline if i["type"] == "escalated")
    assert escalated["at"] == skipped["at"], "skipped at once, not after 30 minutes"


async def test_resolve_frees_the_dedup_key(api: Api, sink: HttpSink) -> None:
    ada = await api.user("Ada", webhook=sink.url("/resolve"))
    policy = await api.policy([(60, [ada["id"]])], name="resolve")
    service = await api.service(policy["id"])
    first = await api.trigger(service["id"], dedup_key="k")
    resolved = await api.post(f"/incidents/{first['id']}/resolve", {}, status=200)
    assert resolved["incident"]["status"] == "resolved"
    assert resolved["incident"]["resolved_by"]["name"] == "Root"
    second = await api.trigger(service["id"], dedup_key="k")
    assert second["id"] != first["id"]
    assert second["number"] == first["number"] + 1
    response = await api.client.post(
        f"/api/v1/incidents/{first['id']}/acknowledge", headers=api.headers
    )
    assert response.status_code == 409
    assert "resolved" in response.json()["error"]["message"]


async def test_delayed_notification_rules_are_cancelled_by_an_ack(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/rules"), rules=[0, 2])
    policy = await api.policy([(600, [ada["id"]])], name="rules")
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    await sink.wait_count("/rules", 1)
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    async with app.state.sessions() as session:
        rows = (
            await session.scalars(
                select(Notification)
                .where(col(Notification.incident_id) == incident["id"])
                .order_by(col(Notification.due_at))
            )
        ).all()
    assert [r.status for r in rows] == ["sent", "cancelled"]
    # The cancelled rule is its own timeline entry, after the acknowledgement that cancelled it.
    timeline = await api.timeline(incident["id"])
    assert _types(timeline)[-2:] == ["acknowledged", "notification_cancelled"]
    assert timeline[-2]["details"]["cancelled_notifications"] == 1
    assert timeline[-1]["details"] == {
        "notification_id": str(rows[1].id),
        "user_id": ada["id"],
        "level": 1,
        "loop": 0,
        "channel": "webhook",
        "reason": "incident acknowledged",
    }
    # The cancelled page is never claimed: wait for the deliverer's wake-up at its due time.
    await jobs.wait_prefix(delivery_wakeup(rows[1].due_at).job_id)
    assert len(sink.at("/rules")) == 1
