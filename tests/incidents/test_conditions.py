"""Level conditions end to end: `unresolved` climbs past an ack, `unacknowledged` stops at it."""

from typing import Any

import pytest

from tests.factories import Api
from tests.incidents.helpers import pages, policy, row, service, types
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def test_unresolved_levels_keep_climbing_after_an_ack_until_resolved(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/unres-ada"), rules=[0, 1])
    bob = await api.user("Bob", webhook=sink.url("/unres-bob"))
    carol = await api.user("Carol", webhook=sink.url("/unres-carol"))
    chain = await policy(
        api,
        [
            (1, [ada["id"]], "unresolved"),
            (1, [bob["id"]], "unresolved"),
            (60, [carol["id"]], "unresolved"),
        ],
        name="unresolved",
    )
    svc = await service(api, chain["id"], name="unresolved-api")
    incident = await api.trigger(svc["id"])
    await sink.wait_count("/unres-ada", 1)
    acked = await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)
    assert acked["incident"]["status"] == "acknowledged"

    # Ada's delayed rule survives the ack (its level is `unresolved`), and the chain climbs on.
    await sink.wait_count("/unres-ada", 2)
    [bob_page] = await sink.wait_count("/unres-bob", 1)
    assert bob_page.json()["level"] == 2
    assert bob_page.json()["incident"]["status"] == "acknowledged"
    [carol_page] = await sink.wait_count("/unres-carol", 1)
    assert carol_page.json()["level"] == 3
    assert carol_page.json()["incident"]["status"] == "acknowledged"

    resolved = await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    assert resolved["incident"]["escalation"]["next_due_at"] is None
    timeline = await api.timeline(incident["id"])
    # Level 2 is due a second after the trigger: on a loaded machine its step may come first.
    after_ack = types(timeline)[types(timeline).index("acknowledged") :]
    assert types(timeline).count("escalated") == 3  # levels 1, 2 and 3
    assert "escalated" in after_ack
    assert after_ack[-1] == "resolved"
    assert [p.status for p in await pages(app, incident["id"])] == ["sent"] * 4
    assert (await row(app, incident["id"])).max_level_reached == 3


async def test_a_mixed_policy_stops_where_an_unacknowledged_level_meets_the_ack(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/mixed-ada"))
    bob = await api.user("Bob", webhook=sink.url("/mixed-bob"), rules=[0, 30])
    carol = await api.user("Carol", webhook=sink.url("/mixed-carol"))
    chain = await policy(
        api,
        [
            (1, [ada["id"]], "unresolved"),
            (1, [bob["id"]], "unacknowledged"),
            (1, [carol["id"]], "unresolved"),
        ],
        name="mixed",
    )
    svc = await service(api, chain["id"], name="mixed-api")
    incident = await api.trigger(svc["id"])
    await sink.wait_count("/mixed-ada", 1)
    await api.post(f"/incidents/{incident['id']}/acknowledge", {}, status=200)

    # Level 1 is `unresolved`: its timeout climbs to level 2 although acknowledged, and Bob's
    # page, decided after the ack, goes out.
    [bob_page] = await sink.wait_count("/mixed-bob", 1)
    assert bob_page.json()["level"] == 2
    # Level 2 is `unacknowledged`: at its timeout the acknowledged incident stops climbing.
    await jobs.step_applied(incident["id"], 2)
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "acknowledged"
    assert current["escalation"]["level"] == 2
    assert current["escalation"]["next_due_at"] is None
    assert sink.at("/mixed-carol") == []
    # Bob's delayed rule (decided after the ack) is still due: it is not silenced by that ack.
    bob_rows = [p for p in await pages(app, incident["id"]) if p.level == 2]
    assert max(bob_rows, key=lambda p: p.due_at).status == "pending"
    # Resolving cancels it.
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
    bob_rows = [p for p in await pages(app, incident["id"]) if p.level == 2]
    assert sorted(p.status for p in bob_rows) == ["cancelled", "sent"]
