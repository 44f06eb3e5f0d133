"""Reassign (functional escalation): to another policy or straight to a user, level 1 now."""

from typing import Any

import pytest

from tests.factories import Api
from tests.incidents.helpers import pages, policy, service
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def _acked_incident(api: Api, sink: HttpSink) -> tuple[dict[str, Any], dict[str, Any]]:
    ada = await api.user("Ada", webhook=sink.url("/re-ada"), rules=[0, 30])
    chain = await policy(api, [(60, [ada["id"]], "unresolved")], name="first-line")
    svc = await service(api, chain["id"], name="reassign-api")
    incident = await api.trigger(svc["id"])
    await sink.wait_count("/re-ada", 1)
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    return incident, ada


async def test_reassign_to_another_policy_restarts_there_and_retriggers(
    api: Api, sink: HttpSink, app: Any
) -> None:
    incident, ada = await _acked_incident(api, sink)
    bob = await api.user("Bob", webhook=sink.url("/re-bob"))
    dba = await policy(api, [(60, [bob["id"]], "unacknowledged")], name="dba")
    result = await api.post(
        f"/incidents/{incident['id']}/reassign", {"escalation_policy_id": dba["id"]}, status=200
    )
    body = result["incident"]
    assert body["status"] == "triggered"
    assert body["escalation"]["policy_id"] == dba["id"]
    assert body["escalation"]["policy_name"] == "dba"
    assert (body["escalation"]["level"], body["escalation"]["loop"]) == (1, 0)
    [page] = await sink.wait_count("/re-bob", 1)
    assert page.json()["level"] == 1
    # Ada's delayed page from the old chain is cancelled.
    ada_rows = [p for p in await pages(app, incident["id"]) if str(p.user_id) == ada["id"]]
    assert sorted(p.status for p in ada_rows) == ["cancelled", "sent"]
    entry = next(i for i in await api.timeline(incident["id"]) if i["type"] == "reassigned")
    assert entry["actor"]["name"] == "Root"
    assert entry["details"]["from"]["policy_name"] == "first-line"
    assert entry["details"]["from"]["status"] == "acknowledged"
    assert entry["details"]["to"] == {"type": "escalation_policy", "id": dba["id"], "name": "dba"}


async def test_reassign_straight_to_a_user(api: Api, sink: HttpSink) -> None:
    incident, _ = await _acked_incident(api, sink)
    carol = await api.user("Carol", webhook=sink.url("/re-carol"))
    result = await api.post(
        f"/incidents/{incident['id']}/reassign", {"user_id": carol["id"]}, status=200
    )
    assert result["incident"]["status"] == "triggered"
    assert result["incident"]["escalation"]["policy_id"] is None
    assert result["incident"]["escalation"]["policy_name"] == "direct to Carol"
    [page] = await sink.wait_count("/re-carol", 1)
    assert page.json()["user"] == {"id": carol["id"], "name": "Carol"}
    entry = next(i for i in await api.timeline(incident["id"]) if i["type"] == "reassigned")
    assert entry["details"]["to"] == {"type": "user", "id": carol["id"], "name": "Carol"}


async def test_reassign_validation(api: Api, sink: HttpSink) -> None:
    incident, ada = await _acked_incident(api, sink)
    url = f"/api/v1/incidents/{incident['id']}/reassign"
    unknown = "00000000-0000-4000-8000-000000000000"
    cases = [
        ({}, "escalation_policy_id"),
        ({"escalation_policy_id": unknown, "user_id": unknown}, "escalation_policy_id"),
        ({"escalation_policy_id": unknown}, "escalation_policy_id"),
        ({"user_id": unknown}, "user_id"),
        ({"user_id": "nobody"}, "user_id"),
    ]
    for body, field in cases:
        response = await api.client.post(url, json=body, headers=api.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"][0]["field"] == field, body
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    response = await api.client.post(url, json={"user_id": ada["id"]}, headers=api.headers)
    assert response.status_code == 409
    assert "cannot be reassigned" in response.json()["error"]["message"]
    missing = await api.client.post(
        f"/api/v1/incidents/{unknown}/reassign", json={"user_id": unknown}, headers=api.headers
    )
    assert missing.status_code == 404


async def test_a_low_urgency_incident_reassigned_to_a_policy_pages_its_level_one_once(
    api: Api, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/re-low-ada"))
    bob = await api.user("Bob", webhook=sink.url("/re-low-bob"))
    quiet = await policy(api, [(600, [ada["id"]], "unacknowledged")], name="quiet")
    svc = await service(api, quiet["id"], name="reassign-low")
    incident = await api.trigger(svc["id"], urgency="low")
    await sink.wait_count("/re-low-ada", 1)
    chain = await policy(
        api, [(1, [ada["id"]], "unacknowledged"), (1, [bob["id"]], "unacknowledged")], name="two"
    )
    await api.post(
        f"/incidents/{incident['id']}/reassign", {"escalation_policy_id": chain["id"]}, status=200
    )

    async def exhausted() -> bool:
        return any(e["type"] == "exhausted" for e in await api.timeline(incident["id"]))

    await jobs.until(exhausted)
    await sink.wait_count("/re-low-ada", 2)
    assert sink.at("/re-low-bob") == []
    assert {p.level for p in await pages(app, incident["id"])} == {1}
