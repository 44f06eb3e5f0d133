"""Response reports: MTTA, MTTR, escalation rate and exhaustion, per service/policy/responder."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import Incident, TimelineEntry
from tests.factories import Api
from tests.incidents.helpers import policy, service
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")

T = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RANGE = {"since": "2026-03-01T08:00:00Z", "until": "2026-03-01T10:00:00Z"}


async def _stamp(
    app: Any, incident_id: str, *, minute: int, mtta: int | None, mttr: int | None, level: int
) -> None:
    created = T + timedelta(minutes=minute)
    values: dict[str, Any] = {"created_at": created, "max_level_reached": level}
    if mtta is not None:
        values["first_acknowledged_at"] = created + timedelta(seconds=mtta)
    if mttr is not None:
        values["resolved_at"] = created + timedelta(seconds=mttr)
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(Incident).where(col(Incident.id) == uuid.UUID(incident_id)).values(**values)
        )


@pytest.fixture
async def history(api: Api, app: Any, sink: HttpSink) -> dict[str, Any]:
    """Five incidents in range on two services, acknowledged by Ada and Bob; plus noise."""
    # Reachable users, so no level is skipped into an (unplanned) exhausted chain.
    ada = await api.user("Ada", webhook=sink.url("/report-ada"))
    bob = await api.user("Bob", webhook=sink.url("/report-bob"))
    as_user = {
        "ada": Api(api.client, await api.key_for(ada)),
        "bob": Api(api.client, await api.key_for(bob)),
    }
    pa = await policy(api, [(600, [ada["id"]], "unacknowledged")], name="alpha")
    pb = await policy(api, [(600, [bob["id"]], "unacknowledged")], name="beta")
    sa = await service(api, pa["id"], name="svc-a")
    sb = await service(api, pb["id"], name="svc-b")
    plan = [
        # service, who acks, resolve?, minute, mtta, mttr, max level, exhausted
        (sa, "ada", True, 1, 10, 100, 1, False),
        (sa, "ada", True, 2, 20, 200, 2, False),
        (sa, "bob", False, 3, 30, None, 3, True),
        (sb, "bob", True, 4, 40, 400, 1, False),
        (sb, None, True, 5, None, 500, 2, False),
    ]
    ids = []
    for svc, acker, resolve, minute, mtta, mttr, level, exhausted in plan:
        incident = await api.trigger(svc["id"], dedup_key=f"h{minute}")
        if acker:
            await as_user[acker].post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
        if resolve:
            await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
        await _stamp(app, incident["id"], minute=minute, mtta=mtta, mttr=mttr, level=level)
        if exhausted:
            async with app.state.sessions() as session, session.begin():
                session.add(
                    TimelineEntry(
                        incident_id=uuid.UUID(incident["id"]),
                        type="exhausted",
                        at=T,
                        actor={},
                        details={},
                    )
                )
        ids.append(incident["id"])
    # Noise: a duplicate merged into another incident, and an incident outside the range.
    duplicate = await api.trigger(sb["id"], dedup_key="dup")
    open_b = await api.trigger(sb["id"], dedup_key="open-b")
    await api.post(
        f"/incidents/{open_b['id']}/merge", {"source_incident_ids": [duplicate["id"]]}, status=200
    )
    await _stamp(app, duplicate["id"], minute=6, mtta=1, mttr=1, level=3)
    await _stamp(app, open_b["id"], minute=-24 * 60, mtta=None, mttr=None, level=1)
    return {"ada": ada, "bob": bob, "pa": pa, "pb": pb, "sa": sa, "sb": sb, "ids": ids}


def _durations(mean: float | None, p50: float | None, p90: float | None) -> dict[str, Any]:
    return {"mean": mean, "p50": p50, "p90": p90}


async def test_report_by_service(api: Api, history: dict[str, Any]) -> None:
    report = await api.get("/reports/response", params={**RANGE, "group_by": "service"})
    assert report["group_by"] == "service"
    a, b = report["groups"]
    assert (a["key"], a["name"], b["name"]) == (history["sa"]["id"], "svc-a", "svc-b")
    assert (a["incidents"], a["acknowledged"], a["resolved"]) == (3, 3, 2)
    assert a["mtta_seconds"] == _durations(20.0, 20.0, 28.0)
    assert a["mttr_seconds"] == _durations(150.0, 150.0, 190.0)
    assert a["escalation_rate"] == pytest.approx(2 / 3, abs=0.001)
    assert a["exhausted"] == 1
    assert (b["incidents"], b["acknowledged"], b["resolved"]) == (2, 1, 2)
    assert b["mtta_seconds"] == _durations(40.0, 40.0, 40.0)
    assert b["mttr_seconds"] == _durations(450.0, 450.0, 490.0)
    assert (b["escalation_rate"], b["exhausted"]) == (0.5, 0)
    total = report["total"]
    assert (total["name"], total["incidents"], total["acknowledged"]) == ("all", 5, 4)
    assert total["mtta_seconds"] == _durations(25.0, 25.0, 37.0)
    assert total["mttr_seconds"] == _durations(300.0, 300.0, 470.0)
    assert (total["escalation_rate"], total["exhausted"]) == (0.6, 1)


async def test_report_by_policy_and_by_responder(api: Api, history: dict[str, Any]) -> None:
    by_policy = await api.get("/reports/response", params={**RANGE, "group_by": "policy"})
    assert [(g["key"], g["name"], g["incidents"]) for g in by_policy["groups"]] == [
        (history["pa"]["id"], "alpha", 3),
        (history["pb"]["id"], "beta", 2),
    ]
    by_responder = await api.get("/reports/response", params={**RANGE, "group_by": "responder"})
    groups = {g["name"]: g for g in by_responder["groups"]}
    assert set(groups) == {"Ada", "Bob", "not acknowledged"}
    assert groups["Ada"]["key"] == history["ada"]["id"]
    assert groups["Ada"]["mtta_seconds"] == _durations(15.0, 15.0, 19.0)
    assert groups["Bob"]["mtta_seconds"] == _durations(35.0, 35.0, 39.0)
    assert groups["Bob"]["mttr_seconds"] == _durations(400.0, 400.0, 400.0)
    assert groups["not acknowledged"]["key"] is None
    assert groups["not acknowledged"]["mtta_seconds"] == _durations(None, None, None)
    assert by_responder["total"]["incidents"] == 5


async def test_the_range_selects_incidents_by_trigger_time(
    api: Api, history: dict[str, Any]
) -> None:
    narrow = {"since": "2026-03-01T09:02:00Z", "until": "2026-03-01T09:04:00Z"}
    report = await api.get("/reports/response", params=narrow)
    assert report["total"]["incidents"] == 2
    assert report["total"]["mtta_seconds"]["mean"] == 25.0
    empty = await api.get(
        "/reports/response",
        params={"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"},
    )
    assert empty["groups"] == []
    assert empty["total"]["incidents"] == 0
    assert empty["total"]["mttr_seconds"] == _durations(None, None, None)


async def test_report_input_and_permissions(api: Api) -> None:
    cases = [
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
        ({"group_by": "team"}, "group_by"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-03-01T00:00:00"}, "until"),
    ]
    for params, field in cases:
        response = await api.client.get(
            "/api/v1/reports/response", params=params, headers=api.headers
        )
        assert response.status_code == 422, params
        assert response.json()["error"]["details"][0]["field"] == field
    watcher = await api.user("Watcher", role="observer")
    response = await api.client.get("/api/v1/reports/response", headers=await api.key_for(watcher))
    assert response.status_code == 200
    assert (await api.client.get("/api/v1/reports/response")).status_code == 401
