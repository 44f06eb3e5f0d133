"""Ack timeout and auto-resolve: timers on the incident row, fired by arq, swept if lost."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import Incident, utcnow
from tests.factories import Api
from tests.faults.harness import eventually
from tests.incidents.helpers import policy, row, service, types
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def _paged_incident(
    api: Api, sink: HttpSink, path: str, **timers: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    ada = await api.user(f"Ada{path.replace('/', ' ')}", webhook=sink.url(path))
    chain = await policy(api, [(60, [ada["id"]], "unacknowledged")], name=f"p{path}")
    svc = await service(api, chain["id"], name=f"s{path}", **timers)
    incident = await api.trigger(svc["id"])
    await sink.wait_count(path, 1)
    return svc, incident


async def test_an_ack_not_resolved_in_time_returns_to_triggered_at_level_one(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    _, incident = await _paged_incident(api, sink, "/ackto", ack_timeout_seconds=1)
    before = await row(app, incident["id"])
    acked = await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    acked_at = datetime.fromisoformat(acked["incident"]["acknowledged_at"])
    timeout_at = datetime.fromisoformat(acked["incident"]["ack_timeout_at"])
    assert timeout_at - acked_at == timedelta(seconds=1)

    await jobs.wait_prefix(f"ack-timeout:{incident['id']}")
    [_, again] = await sink.wait_count("/ackto", 2)
    assert again.json()["level"] == 1
    assert again.json()["loop"] == 0
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "triggered"
    assert current["acknowledged_at"] is None
    assert current["ack_timeout_at"] is None
    assert (current["escalation"]["level"], current["escalation"]["loop"]) == (1, 0)
    after = await row(app, incident["id"])
    assert after.step_token > before.step_token + 1, "a fresh fencing token"
    timeline = await api.timeline(incident["id"])
    lapsed = next(i for i in timeline if i["type"] == "unacknowledged")
    assert lapsed["details"]["reason"] == "ack timeout"
    assert lapsed["details"]["acknowledged_by"]["name"] == "Root"
    assert lapsed["actor"]["type"] == "system"
    assert datetime.fromisoformat(lapsed["at"]) >= timeout_at

    # The page's outcome is recorded once the sink has answered it.
    async def paged_again() -> bool:
        return types(await api.timeline(incident["id"]))[-2:] == ["escalated", "notified"]

    await eventually(paged_again, 30, "the second page's outcome on the timeline")
    # The first acknowledgement is kept for reports although the ack lapsed.
    assert after.first_acknowledged_at == acked_at


async def test_resolving_before_the_ack_timeout_disarms_it(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    _, incident = await _paged_incident(api, sink, "/ackto-res", ack_timeout_seconds=1)
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    resolved = await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    assert resolved["incident"]["ack_timeout_at"] is None
    await jobs.wait_prefix(f"ack-timeout:{incident['id']}")
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "resolved"
    assert "unacknowledged" not in types(await api.timeline(incident["id"]))
    assert len(sink.at("/ackto-res")) == 1


async def test_a_second_ack_rearms_the_timer_and_the_first_job_is_stale(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    _, incident = await _paged_incident(api, sink, "/ackto-two", ack_timeout_seconds=1)
    first = await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    await api.post(f"/incidents/{incident['id']}/unacknowledge", {}, status=200)
    await sink.wait_count("/ackto-two", 2)
    second = await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    assert second["incident"]["ack_timeout_at"] > first["incident"]["ack_timeout_at"]
    # Both timers fire; only the one matching the stored instant acts.
    second_at = datetime.fromisoformat(second["incident"]["ack_timeout_at"])
    await jobs.wait_prefix(f"ack-timeout:{incident['id']}:{second_at.timestamp():.6f}")
    await sink.wait_count("/ackto-two", 3)
    timeline = await api.timeline(incident["id"])
    reasons = [i["details"]["reason"] for i in timeline if i["type"] == "unacknowledged"]
    assert reasons == ["unacknowledged by hand", "ack timeout"]


async def test_auto_resolve_after_the_trigger(api: Api, sink: HttpSink, jobs: JobTracker) -> None:
    _, incident = await _paged_incident(api, sink, "/autores", auto_resolve_seconds=1)
    created = datetime.fromisoformat(incident["created_at"])
    assert datetime.fromisoformat(incident["auto_resolve_at"]) == created + timedelta(seconds=1)
    # A later alert with the same dedup key does not push auto-resolve back.
    again = await api.trigger(incident["service_id"], status=200, dedup_key=incident["dedup_key"])
    assert again["auto_resolve_at"] == incident["auto_resolve_at"]
    await jobs.wait_prefix(f"auto-resolve:{incident['id']}")
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "resolved"
    assert current["resolved_by"] == {"type": "system", "name": "auto-resolve"}
    assert current["auto_resolve_at"] is None


async def test_the_sweeper_rearms_timers_redis_lost(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    """Timers whose jobs are gone (Redis flushed, worker died) fire once the sweeper sees them."""
    _, acked = await _paged_incident(api, sink, "/sweep-ack")
    _, open_ = await _paged_incident(api, sink, "/sweep-open")
    await api.post(f"/incidents/{acked['id']}/acknowledge", {}, status=200)
    overdue = utcnow() - timedelta(seconds=5)
    async with app.state.sessions() as session, session.begin():
        # Written straight to the row, with no job on the queue: what a lost Redis leaves behind.
        await session.execute(
            update(Incident)
            .where(col(Incident.id) == uuid.UUID(acked["id"]))
            .values(ack_timeout_at=overdue)
        )
        await session.execute(
            update(Incident)
            .where(col(Incident.id) == uuid.UUID(open_["id"]))
            .values(auto_resolve_at=overdue)
        )
    await jobs.wait_prefix(f"ack-timeout:{acked['id']}:{overdue.timestamp():.6f}:sweep")
    await jobs.wait_prefix(f"auto-resolve:{open_['id']}:{overdue.timestamp():.6f}:sweep")
    assert (await api.get(f"/incidents/{acked['id']}"))["status"] == "triggered"
    await sink.wait_count("/sweep-ack", 2)
    assert (await api.get(f"/incidents/{open_['id']}"))["status"] == "resolved"


async def test_timer_bounds_on_services(api: Api, sink: HttpSink) -> None:
    ada = await api.user("Ada", webhook=sink.url("/bounds"))
    chain = await policy(api, [(60, [ada["id"]], "unacknowledged")], name="bounds")
    for field, value in (("ack_timeout_seconds", 0), ("auto_resolve_seconds", 31 * 86400)):
        body = {"name": f"b-{field}", "escalation_policy_id": chain["id"], field: value}
        response = await api.client.post("/api/v1/services", json=body, headers=api.headers)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field
