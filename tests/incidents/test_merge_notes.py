"""Notes on the timeline, and merging duplicates into one incident."""

import asyncio
from typing import Any

import pytest

from tests.factories import Api
from tests.incidents.helpers import pages, policy, service, types
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


async def _service(api: Api, sink: HttpSink, tag: str, rules: list[int]) -> dict[str, Any]:
    ada = await api.user(f"Ada {tag}", webhook=sink.url(f"/{tag}"), rules=rules)
    chain = await policy(api, [(60, [ada["id"]], "unacknowledged")], name=f"p-{tag}")
    return await service(api, chain["id"], name=f"s-{tag}")


async def test_notes_go_on_the_timeline_with_their_author(api: Api, sink: HttpSink) -> None:
    svc = await _service(api, sink, "notes", [0])
    incident = await api.trigger(svc["id"])
    bob = await api.user("Bob")
    as_bob = Api(api.client, await api.key_for(bob))
    note = await as_bob.post(
        f"/incidents/{incident['id']}/notes", {"text": "  rolled back deploy 1432  "}
    )
    assert note["type"] == "note"
    assert note["details"] == {"text": "rolled back deploy 1432"}
    assert note["actor"]["name"] == "Bob"
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    await api.post(f"/incidents/{incident['id']}/notes", {"text": "postmortem: PM-7"})
    notes = [i for i in await api.timeline(incident["id"]) if i["type"] == "note"]
    assert [n["details"]["text"] for n in notes] == ["rolled back deploy 1432", "postmortem: PM-7"]
    for body in ({"text": ""}, {"text": "x" * 10_001}, {}):
        response = await api.client.post(
            f"/api/v1/incidents/{incident['id']}/notes", json=body, headers=api.headers
        )
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "text"


async def test_merge_resolves_and_links_the_sources_and_sums_their_alerts(
    api: Api, sink: HttpSink, app: Any
) -> None:
    svc = await _service(api, sink, "merge", [0, 30])
    target = await api.trigger(svc["id"], dedup_key="db-down")
    first = await api.trigger(svc["id"], dedup_key="db-conn")
    await api.trigger(svc["id"], status=200, dedup_key="db-conn")
    await api.trigger(svc["id"], status=200, dedup_key="db-conn")
    second = await api.trigger(svc["id"], dedup_key="db-latency")
    await sink.wait_count("/merge", 3)

    result = await api.post(
        f"/incidents/{target['id']}/merge",
        {"source_incident_ids": [second["id"], first["id"]]},
        status=200,
    )
    assert result["incident"]["alert_count"] == 1 + 3 + 1
    assert result["incident"]["status"] == "triggered"
    for source in (first, second):
        merged = await api.get(f"/incidents/{source['id']}")
        assert merged["status"] == "resolved"
        assert merged["merged_into_id"] == target["id"]
        assert merged["resolved_by"]["name"] == "Root"
        assert merged["escalation"]["next_due_at"] is None
        assert sorted(p.status for p in await pages(app, source["id"])) == ["cancelled", "sent"]
        timeline = await api.timeline(source["id"])
        assert types(timeline)[-3:] == ["resolved", "notification_cancelled", "merged"]
        assert timeline[-2]["details"]["reason"] == "incident resolved"
        assert timeline[-1]["details"]["into"] == {"id": target["id"], "number": target["number"]}
    entry = [i for i in await api.timeline(target["id"]) if i["type"] == "merged"]
    assert [s["number"] for s in entry[0]["details"]["sources"]] == [
        first["number"],
        second["number"],
    ]
    assert entry[0]["details"]["alerts_added"] == 4
    assert entry[0]["actor"]["name"] == "Root"
    # The sources' dedup keys are free again; the target's pages carry on.
    again = await api.trigger(svc["id"], dedup_key="db-conn")
    assert again["id"] != first["id"]


async def test_merge_validation(api: Api, sink: HttpSink) -> None:
    svc = await _service(api, sink, "merge-bad", [0])
    target = await api.trigger(svc["id"], dedup_key="a")
    source = await api.trigger(svc["id"], dedup_key="b")
    url = f"/api/v1/incidents/{target['id']}/merge"
    unknown = "00000000-0000-4000-8000-000000000000"
    for ids in ([], [target["id"]], [source["id"], source["id"]], [unknown], ["x"]):
        response = await api.client.post(
            url, json={"source_incident_ids": ids}, headers=api.headers
        )
        assert response.status_code == 422, ids
        assert response.json()["error"]["details"][0]["field"].startswith("source_incident_ids")
    response = await api.client.post(
        f"/api/v1/incidents/{unknown}/merge",
        json={"source_incident_ids": [source["id"]]},
        headers=api.headers,
    )
    assert response.status_code == 404
    await api.post(f"/incidents/{source['id']}/resolve", {}, status=200)
    response = await api.client.post(
        url, json={"source_incident_ids": [source["id"]]}, headers=api.headers
    )
    assert response.status_code == 409
    assert "cannot be merged" in response.json()["error"]["message"]


async def test_crossed_merges_at_once_do_not_deadlock(api: Api, sink: HttpSink) -> None:
    svc = await _service(api, sink, "merge-x", [0])
    ids = [(await api.trigger(svc["id"], dedup_key=f"x{n}"))["id"] for n in range(3)]
    # A into B and B into A (plus C both ways) at the same instant: one wins, one is refused.
    responses = await asyncio.gather(
        api.client.post(
            f"/api/v1/incidents/{ids[0]}/merge",
            json={"source_incident_ids": [ids[1], ids[2]]},
            headers=api.headers,
        ),
        api.client.post(
            f"/api/v1/incidents/{ids[1]}/merge",
            json={"source_incident_ids": [ids[2], ids[0]]},
            headers=api.headers,
        ),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    winner = next(r.json()["incident"] for r in responses if r.status_code == 200)
    assert winner["alert_count"] == 3
    statuses = [(await api.get(f"/incidents/{i}"))["status"] for i in ids]
    assert sorted(statuses) == ["resolved", "resolved", "triggered"]
