"""Outbound events: signed, in order per incident, retried on failure, re-armed by the sweeper."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from app.db import transaction
from app.events.delivery import rearm
from app.events.schemas import EventType
from app.events.service import emit
from app.models import Incident, WebhookDelivery, utcnow
from app.store.documents import document
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def subscribe(api: Api, sink: HttpSink, path: str, **filters: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.post(
        "/webhook-subscriptions", {"url": sink.url(path), **filters}
    )
    return result


async def test_events_arrive_signed_and_in_order_with_the_incident_as_it_was(
    api: Api, sink: HttpSink
) -> None:
    subscription = await subscribe(api, sink, "/events/all")
    ada = await api.user("Ada", webhook=sink.url("/events-ada"))
    bob = await api.user("Bob", webhook=sink.url("/events-bob"))
    policy = await api.policy([(1, [ada["id"]]), (600, [bob["id"]])], name="events")
    service = await api.service(policy["id"], name="events")
    incident = await api.trigger(service["id"])
    await sink.wait_count("/events-bob", 1)  # level 2 reached: escalated
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)

    received = await sink.wait_count("/events/all", 4)
    events = [r.json()["event"] for r in received]
    assert [e["type"] for e in events] == [
        "incident.triggered",
        "incident.escalated",
        "incident.acknowledged",
        "incident.resolved",
    ]
    assert [e["incident"]["status"] for e in events] == [
        "triggered",
        "triggered",
        "acknowledged",
        "resolved",
    ]
    assert events[1]["incident"]["escalation"]["level"] == 2
    assert events[1]["actor"] == {"type": "system", "name": "stairway"}
    assert events[2]["actor"]["name"] == "Root"
    assert all(e["incident"]["id"] == incident["id"] for e in events)
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    for request in received:
        assert request.signed_by(subscription["secret"])
        assert request.headers["x-stairway-event"] == request.json()["event"]["type"]
    assert len({r.headers["x-stairway-delivery"] for r in received}) == 4
    assert len({e["id"] for e in events}) == 4


async def test_a_503_is_retried_and_later_events_wait_their_turn(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    sink.script["/events/flaky"] = [503, 503]
    subscription = await subscribe(api, sink, "/events/flaky")
    nobody = await api.user("Nobody")
    policy = await api.policy([(600, [nobody["id"]])], name="flaky")
    service = await api.service(policy["id"], name="flaky")
    incident = await api.trigger(service["id"])
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)

    received = await sink.wait_count("/events/flaky", 4)
    types = [r.json()["event"]["type"] for r in received]
    assert types == [
        "incident.triggered",
        "incident.triggered",
        "incident.triggered",
        "incident.acknowledged",
    ]
    assert len({r.headers["x-stairway-delivery"] for r in received[:3]}) == 1, "same delivery id"
    assert received[0].body == received[2].body, "a retry sends the same event"
    path = f"/webhook-subscriptions/{subscription['id']}/deliveries"

    async def acknowledged_recorded() -> bool:
        # The sink heard the event before the worker recorded the answer: wait for the record.
        return bool((await api.get(path))["items"][0]["status"] != "pending")

    await jobs.until(acknowledged_recorded)
    latest, first = (await api.get(path))["items"]
    assert (first["event_type"], first["status"], first["attempts"]) == (
        "incident.triggered",
        "delivered",
        3,
    )
    assert first["last_status_code"] == 200
    assert (latest["event_type"], latest["status"], latest["attempts"]) == (
        "incident.acknowledged",
        "delivered",
        1,
    )


async def test_filters_by_event_type_and_service(api: Api, sink: HttpSink, app: Any) -> None:
    nobody = await api.user("Nobody")
    policy = await api.policy([(600, [nobody["id"]])], name="filters")
    watched = await api.service(policy["id"], name="watched")
    other = await api.service(policy["id"], name="other")
    subscription = await subscribe(
        api,
        sink,
        "/events/filtered",
        event_types=["incident.resolved"],
        service_ids=[watched["id"]],
    )
    quiet = await api.trigger(other["id"])
    await api.post(f"/incidents/{quiet['id']}/resolve", {}, status=200)
    loud = await api.trigger(watched["id"])
    await api.post(f"/incidents/{loud['id']}/resolve", {}, status=200)

    [received] = await sink.wait_count("/events/filtered", 1)
    assert received.json()["event"]["incident"]["id"] == loud["id"]
    async with app.state.sessions() as session:
        written = await session.scalar(
            select(func.count()).where(
                col(WebhookDelivery.subscription_id) == uuid.UUID(subscription["id"])
            )
        )
    assert written == 1, "only the matching event was written for this subscription"


async def test_a_persistently_failing_subscription_is_disabled_and_says_why(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    sink.script["/events/dead"] = [500, 500, 500]
    subscription = await subscribe(api, sink, "/events/dead")
    nobody = await api.user("Nobody")
    policy = await api.policy([(600, [nobody["id"]])], name="dead")
    service = await api.service(policy["id"], name="dead")
    incident = await api.trigger(service["id"])
    attempts = await sink.wait_count("/events/dead", 3)
    await jobs.wait_prefix(f"event:{attempts[0].headers['x-stairway-delivery']}:2")

    shown = await api.get(f"/webhook-subscriptions/{subscription['id']}")
    assert shown["enabled"] is False
    assert "failed 3 times" in shown["disabled_reason"]
    assert "HTTP 500" in shown["disabled_reason"]
    [failed] = (await api.get(f"/webhook-subscriptions/{subscription['id']}/deliveries"))["items"]
    assert (failed["status"], failed["attempts"], failed["last_status_code"]) == ("failed", 3, 500)

    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    async with app.state.sessions() as session:
        written = await session.scalar(
            select(func.count()).where(
                col(WebhookDelivery.subscription_id) == uuid.UUID(subscription["id"])
            )
        )
    assert written == 1, "a disabled subscription collects no events"

    response = await api.client.patch(
        f"/api/v1/webhook-subscriptions/{subscription['id']}",
        headers=api.headers,
        json={"enabled": True},
    )
    assert response.json()["enabled"] is True
    assert response.json()["disabled_reason"] is None


async def test_the_sweeper_rearms_events_whose_job_was_lost(
    api: Api, sink: HttpSink, app: Any
) -> None:
    await subscribe(api, sink, "/events/lost")
    nobody = await api.user("Nobody")
    policy = await api.policy([(600, [nobody["id"]])], name="lost")
    service = await api.service(policy["id"], name="lost")
    incident = await api.trigger(service["id"])
    await sink.wait_count("/events/lost", 1)
    async with transaction(app.state.sessions) as session:  # no enqueue: Redis "lost" the jobs
        row = await session.get(Incident, uuid.UUID(incident["id"]), with_for_update=True)
        assert row is not None
        for kind in (EventType.NOTE_ADDED, EventType.REASSIGNED):
            assert await emit(session, document(row), kind, at=utcnow()) == 1

    async with transaction(app.state.sessions, app.state.enqueue) as session:
        # Only the head of the incident's lane is re-armed; its success hands over to the next.
        assert (
            await rearm(session=session, cutoff=utcnow() + timedelta(seconds=1), suffix=":t") == 1
        )
    received = await sink.wait_count("/events/lost", 3)
    assert [r.json()["event"]["type"] for r in received] == [
        "incident.triggered",
        "incident.note_added",
        "incident.reassigned",
    ]
