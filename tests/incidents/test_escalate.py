"""Manual escalation: page the next level (or level N) now; idempotent per position."""

import asyncio
from typing import Any

import pytest

from tests.factories import Api
from tests.incidents.helpers import pages, policy, row, service, types
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def _chain(api: Api, sink: HttpSink, tag: str) -> tuple[dict[str, Any], list[str]]:
    """A service whose three levels (60 s each) page /tag-1, /tag-2, /tag-3."""
    users = [await api.user(f"{tag} {n}", webhook=sink.url(f"/{tag}-{n}")) for n in (1, 2, 3)]
    chain = await policy(api, [(60, [u["id"]], "unacknowledged") for u in users], name=f"p-{tag}")
    svc = await service(api, chain["id"], name=f"s-{tag}")
    return svc, [f"/{tag}-{n}" for n in (1, 2, 3)]


async def _escalate(api: Api, incident_id: str, body: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/api/v1/incidents/{incident_id}/escalate", json=body, headers=api.headers
    )


async def test_escalate_pages_the_next_level_now(api: Api, sink: HttpSink, app: Any) -> None:
    svc, paths = await _chain(api, sink, "next")
    incident = await api.trigger(svc["id"])
    await sink.wait_count(paths[0], 1)

    result = await api.post(f"/incidents/{incident['id']}/escalate", {}, status=200)
    assert result["changed"] is True
    assert result["message"] == "escalated to level 2"
    assert result["incident"]["escalation"]["level"] == 2
    [page] = await sink.wait_count(paths[1], 1)
    assert page.json()["level"] == 2
    entry = [i for i in await api.timeline(incident["id"]) if i["type"] == "escalated"][-1]
    assert entry["actor"]["name"] == "Root"
    assert entry["details"]["from_level"] == 1

    # Straight to level 3 by number, then `{}` at the last level is refused.
    await api.post(f"/incidents/{incident['id']}/escalate", {"level": 3}, status=200)
    await sink.wait_count(paths[2], 1)
    response = await _escalate(api, incident["id"], {})
    assert response.status_code == 409
    assert "last level" in response.json()["error"]["message"]
    # Back to level 1: it is paged again, although level 1 of loop 0 was paged before.
    await api.post(f"/incidents/{incident['id']}/escalate", {"level": 1}, status=200)
    await sink.wait_count(paths[0], 2)
    assert [p.level for p in await pages(app, incident["id"])] == [1, 2, 3, 1]
    assert (await row(app, incident["id"])).max_level_reached == 3


async def test_an_unknown_level_is_a_422_naming_level(api: Api, sink: HttpSink) -> None:
    svc, _ = await _chain(api, sink, "unknown")
    incident = await api.trigger(svc["id"])
    for body in ({"level": 4}, {"level": 0}, {"level": "two"}):
        response = await _escalate(api, incident["id"], body)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"][0]["field"] == "level"
    response = await _escalate(api, incident["id"], {"levle": 2})
    assert response.status_code == 422


async def test_identical_concurrent_requests_page_once(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    svc, paths = await _chain(api, sink, "twice")
    incident = await api.trigger(svc["id"])
    await sink.wait_count(paths[0], 1)

    # The same "escalate from level 1" sent twice at once (a double click, a client retry).
    first, second = await asyncio.gather(
        _escalate(api, incident["id"], {"from_level": 1}),
        _escalate(api, incident["id"], {"from_level": 1}),
    )
    assert {first.status_code, second.status_code} == {200}
    changed = sorted(r.json()["changed"] for r in (first, second))
    assert changed == [False, True]
    stale = next(r.json() for r in (first, second) if not r.json()["changed"])
    assert stale["message"] == "already moved from level 1; now at level 2"

    # The same "page level 3" sent twice at once.
    third, fourth = await asyncio.gather(
        _escalate(api, incident["id"], {"level": 3}),
        _escalate(api, incident["id"], {"level": 3}),
    )
    assert sorted(r.json()["changed"] for r in (third, fourth)) == [False, True]

    await sink.wait_count(paths[2], 1)
    rows = await pages(app, incident["id"])
    assert [p.level for p in rows] == [1, 2, 3]
    await jobs.page_settled(rows[1].id)
    assert len(sink.at(paths[1])) == 1
    timeline = await api.timeline(incident["id"])
    assert types(timeline).count("escalated") == 3


async def test_escalating_an_acknowledged_incident_pages_that_level_and_keeps_the_ack(
    api: Api, sink: HttpSink, jobs: JobTracker
) -> None:
    svc, paths = await _chain(api, sink, "acked")
    incident = await api.trigger(svc["id"])
    await sink.wait_count(paths[0], 1)
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    result = await api.post(f"/incidents/{incident['id']}/escalate", {}, status=200)
    assert result["incident"]["status"] == "acknowledged"
    [page] = await sink.wait_count(paths[1], 1)
    assert page.json()["incident"]["status"] == "acknowledged"

    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    response = await _escalate(api, incident["id"], {})
    assert response.status_code == 409
    assert "resolved" in response.json()["error"]["message"]
