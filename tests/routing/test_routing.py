"""Routing rules and maintenance windows, end to end on a real worker and sink."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from app.models import Notification
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def _types(timeline: list[dict[str, Any]]) -> list[str]:
    return [item["type"] for item in timeline]


async def _pages(app: Any, incident_id: str) -> int:
    async with app.state.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(col(Notification.incident_id) == incident_id)
        )
    return int(count or 0)


async def test_rules_are_validated_ordered_and_admin_only(api: Api) -> None:
    ada = await api.user("Ada")
    policy = await api.policy([(60, [ada["id"]])])
    service = await api.service(policy["id"])
    path = f"/api/v1/services/{service['id']}/routing-rules"

    bad = await api.client.put(
        path,
        headers=api.headers,
        json={
            "rules": [
                {"conditions": [{"field": "summary", "op": "regex", "value": "(unclosed"}]},
                {"conditions": [{"field": "title", "value": "x"}]},
            ]
        },
    )
    assert bad.status_code == 422
    fields = [d["field"] for d in bad.json()["error"]["details"]]
    assert fields == ["rules.0.conditions.0", "rules.1.conditions.0.field"]
    assert "regular expression" in bad.json()["error"]["message"]
    too_long = await api.client.put(
        path,
        headers=api.headers,
        json={"rules": [{"conditions": [{"field": "summary", "op": "regex", "value": "a" * 300}]}]},
    )
    assert too_long.status_code == 422
    unknown = await api.client.put(
        path,
        headers=api.headers,
        json={"rules": [{"escalation_policy_id": "00000000-0000-0000-0000-000000000000"}]},
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "rules[0].escalation_policy_id"

    put = await api.client.put(
        path,
        headers=api.headers,
        json={
            "rules": [
                {
                    "name": "quiet info",
                    "conditions": [{"field": "severity", "value": "info"}],
                    "suppress": True,
                },
                {
                    "name": "db low",
                    "conditions": [{"field": "labels.team", "value": ["db", "dba"]}],
                    "urgency": "low",
                },
            ]
        },
    )
    assert put.status_code == 200, put.text
    first = await api.post(
        f"/services/{service['id']}/routing-rules",
        {"name": "first", "position": 1, "urgency": "high"},
    )
    assert first["position"] == 1
    listed = (await api.get(f"/services/{service['id']}/routing-rules"))["items"]
    assert [(r["name"], r["position"]) for r in listed] == [
        ("first", 1),
        ("quiet info", 2),
        ("db low", 3),
    ]
    assert listed[2]["conditions"] == [
        {"field": "labels.team", "op": "equals", "value": ["db", "dba"]}
    ]

    deleted = await api.client.delete(f"{path}/{listed[1]['id']}", headers=api.headers)
    assert deleted.status_code == 204
    listed = (await api.get(f"/services/{service['id']}/routing-rules"))["items"]
    assert [(r["name"], r["position"]) for r in listed] == [("first", 1), ("db low", 2)]

    observer = await api.user("Olga", role="observer")
    observer_headers = await api.key_for(observer)
    assert (await api.client.get(path, headers=observer_headers)).status_code == 200
    responder = await api.key_for(ada)
    refused = await api.client.put(path, headers=responder, json={"rules": []})
    assert refused.status_code == 403


async def test_a_matching_rule_pages_another_policy(api: Api, sink: HttpSink) -> None:
    ada = await api.user("Ada", webhook=sink.url("/route-ada"))
    bob = await api.user("Bob", webhook=sink.url("/route-bob"))
    default = await api.policy([(60, [ada["id"]])], name="default")
    dba = await api.policy([(60, [bob["id"]])], name="dba")
    service = await api.service(default["id"])
    await api.post(
        f"/services/{service['id']}/routing-rules",
        {
            "name": "database",
            "escalation_policy_id": dba["id"],
            "conditions": [
                {"field": "labels.team", "value": "db"},
                {"field": "summary", "op": "regex", "value": "(?i)replication"},
            ],
        },
    )

    routed = await api.trigger(
        service["id"], title="Replication lag 40s", details={"labels": {"team": "db"}}
    )
    [page] = await sink.wait_count("/route-bob", 1)
    assert page.json()["incident"]["id"] == routed["id"]
    assert routed["escalation"]["policy_id"] == dba["id"]
    timeline = await api.timeline(routed["id"])
    assert _types(timeline)[:2] == ["triggered", "routed"]
    assert timeline[1]["details"]["rule"]["name"] == "database"

    plain = await api.trigger(
        service["id"], title="Replication lag 40s", details={"labels": {"team": "web"}}
    )
    [ada_page] = await sink.wait_count("/route-ada", 1)
    assert ada_page.json()["incident"]["id"] == plain["id"]
    assert "routed" not in _types(await api.timeline(plain["id"]))
    assert len(sink.at("/route-bob")) == 1

    refused = await api.client.delete(
        f"/api/v1/escalation-policies/{dba['id']}", headers=api.headers
    )
    assert refused.status_code == 409
    assert "routing rule" in refused.json()["error"]["message"]


async def test_low_urgency_pages_level_one_once_and_never_escalates(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/low-ada"))
    bob = await api.user("Bob", webhook=sink.url("/low-bob"))
    policy = await api.policy([(1, [ada["id"]]), (1, [bob["id"]])], repeat=2, name="low")
    service = await api.service(policy["id"])
    await api.post(
        f"/services/{service['id']}/routing-rules",
        {"conditions": [{"field": "severity", "value": "info"}], "urgency": "low"},
    )

    incident = await api.trigger(service["id"], severity="info", title="disk 70%")
    assert incident["urgency"] == "low"
    await sink.wait_count("/low-ada", 1)
    # Level 1 times out after 1 s: with one level and no repeat, that is the end.
    await jobs.step_applied(incident["id"], 1)
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "triggered"
    assert current["escalation"]["exhausted"] is True
    assert len(sink.at("/low-ada")) == 1
    assert sink.at("/low-bob") == []


async def test_a_suppressing_rule_records_the_incident_resolved_and_pages_nobody(
    api: Api, sink: HttpSink, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/suppress"))
    policy = await api.policy([(60, [ada["id"]])], name="suppress")
    service = await api.service(policy["id"])
    await api.post(
        f"/services/{service['id']}/routing-rules",
        {
            "name": "synthetic checks",
            "suppress": True,
            "conditions": [{"field": "source", "op": "regex", "value": "^synthetic-"}],
        },
    )

    quiet = await api.trigger(service["id"], source="synthetic-eu", dedup_key="s1")
    assert quiet["status"] == "resolved"
    assert quiet["resolved_by"]["name"] == "routing"
    timeline = await api.timeline(quiet["id"])
    assert _types(timeline) == ["triggered", "suppressed"]
    assert timeline[1]["details"]["rule"]["name"] == "synthetic checks"

    loud = await api.trigger(service["id"], source="prometheus", dedup_key="s2")
    [page] = await sink.wait_count("/suppress", 1)
    assert page.json()["incident"]["id"] == loud["id"]
    assert await _pages(app, quiet["id"]) == 0


async def test_a_maintenance_window_records_incidents_without_paging(
    api: Api, sink: HttpSink, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/maint"))
    policy = await api.policy([(60, [ada["id"]])], name="maint")
    service = await api.service(policy["id"])
    now = datetime.now(UTC)
    window = await api.post(
        f"/services/{service['id']}/maintenance-windows",
        {
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "description": "database upgrade",
        },
    )
    assert window["active"] is True
    later = await api.post(
        f"/services/{service['id']}/maintenance-windows",
        {
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=1, hours=1)).isoformat(),
        },
    )
    assert later["active"] is False
    listed = await api.get(f"/services/{service['id']}/maintenance-windows")
    assert [w["id"] for w in listed["items"]] == [window["id"], later["id"]]
    backwards = await api.client.post(
        f"/api/v1/services/{service['id']}/maintenance-windows",
        headers=api.headers,
        json={"starts_at": now.isoformat(), "ends_at": (now - timedelta(hours=1)).isoformat()},
    )
    assert backwards.status_code == 422

    held = await api.trigger(service["id"], dedup_key="m1")
    assert held["status"] == "triggered"
    assert held["escalation"]["next_due_at"] is None
    timeline = await api.timeline(held["id"])
    assert _types(timeline) == ["triggered", "maintenance"]
    assert timeline[1]["details"]["maintenance_window_id"] == window["id"]

    response = await api.client.delete(
        f"/api/v1/services/{service['id']}/maintenance-windows/{window['id']}", headers=api.headers
    )
    assert response.status_code == 204
    paged = await api.trigger(service["id"], dedup_key="m2")
    [page] = await sink.wait_count("/maint", 1)
    assert page.json()["incident"]["id"] == paged["id"]
    assert await _pages(app, held["id"]) == 0
