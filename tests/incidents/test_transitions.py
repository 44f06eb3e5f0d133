"""Conflicting actions at the same instant end in one consistent state, each one accounted for."""

import asyncio
from datetime import datetime
from typing import Any

import pytest

from tests.factories import Api
from tests.incidents.helpers import pages, policy, service
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")

ACTIONS = {
    "acknowledge": ({}, "acknowledged"),
    "resolve": ({}, "resolved"),
    "escalate": ({"from_level": 1}, "escalated"),
    "snooze": ({"duration_seconds": 600}, "snoozed"),
    "unacknowledge": ({}, "unacknowledged"),
}


async def test_ack_resolve_escalate_snooze_unack_race(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/race-1"))
    bob = await api.user("Bob", webhook=sink.url("/race-2"))
    chain = await policy(
        api,
        [(60, [ada["id"]], "unacknowledged"), (60, [bob["id"]], "unacknowledged")],
        name="race",
    )
    svc = await service(api, chain["id"], name="race-api")
    for round_ in range(6):
        incident = await api.trigger(svc["id"], dedup_key=f"race-{round_}")
        await sink.wait_count("/race-1", round_ + 1)
        names = list(ACTIONS)
        responses = await asyncio.gather(
            *(
                api.client.post(
                    f"/api/v1/incidents/{incident['id']}/{name}",
                    json=ACTIONS[name][0],
                    headers=api.headers,
                )
                for name in names
            )
        )
        outcome = dict(zip(names, responses, strict=True))
        assert {r.status_code for r in responses} <= {200, 409}
        assert outcome["resolve"].status_code == 200
        current = await api.get(f"/incidents/{incident['id']}")
        assert current["status"] == "resolved"
        assert current["escalation"]["next_due_at"] is None
        resolved_at = datetime.fromisoformat(current["resolved_at"])

        by_people = [
            item
            for item in await api.timeline(incident["id"])
            if item["actor"]["type"] == "user" and item["type"] != "triggered"
        ]
        recorded = _explicit(by_people)
        effective = [n for n, r in outcome.items() if r.status_code == 200 and r.json()["changed"]]
        assert sorted(recorded) == sorted(ACTIONS[n][1] for n in effective), outcome
        for response in responses:
            if response.status_code == 409:
                assert "resolved" in response.json()["error"]["message"]
        _replay(recorded)
        # Resolve is the last thing people did: whatever came after it was refused.
        assert recorded[-1] == "resolved"
        assert all(datetime.fromisoformat(i["at"]) <= resolved_at for i in by_people)
        # And no page is left to go out.
        assert all(p.status != "pending" for p in await pages(app, incident["id"]))


def _explicit(entries: list[dict[str, Any]]) -> list[str]:
    """Timeline types of the actions people took; a snooze's implied ack is folded into it."""
    kept = []
    for index, entry in enumerate(entries):
        following = entries[index + 1] if index + 1 < len(entries) else None
        implied = (
            entry["type"] == "acknowledged"
            and following is not None
            and following["type"] == "snoozed"
            and following["at"] == entry["at"]
        )
        if not implied:
            kept.append(entry["type"])
    return kept


def _replay(recorded: list[str]) -> None:
    """The recorded actions form a valid sequence of incident states."""
    status = "triggered"
    allowed = {
        "acknowledged": ({"triggered"}, "acknowledged"),
        "snoozed": ({"triggered", "acknowledged"}, "acknowledged"),
        "unacknowledged": ({"acknowledged"}, "triggered"),
        "escalated": ({"triggered", "acknowledged"}, None),
        "resolved": ({"triggered", "acknowledged"}, "resolved"),
    }
    for kind in recorded:
        sources, target = allowed[kind]
        assert status in sources, (recorded, kind, status)
        status = target or status
    assert status == "resolved"
