"""The policy preview: a dry run of the chain that matches what the live engine then pages."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Notification
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _schedule_with(api: Api, name: str, person: dict[str, Any] | None) -> dict[str, Any]:
    """A schedule whose layer is Cy's; `person` overrides it for the hour around now."""
    cy = await api.user(f"Cy {name}")
    schedule: dict[str, Any] = await api.post(
        "/schedules",
        {
            "name": name,
            "time_zone": "UTC",
            "layers": [
                {"participants": [cy["id"]], "rotation": "weekly", "start": "2026-01-05T09:00:00Z"}
            ],
        }
        if person
        else {"name": name, "time_zone": "UTC"},
    )
    if person:
        now = datetime.now(UTC)
        schedule["override"] = await api.post(
            f"/schedules/{schedule['id']}/overrides",
            {
                "user_id": person["id"],
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=1)).isoformat(),
            },
        )
    return schedule


async def test_the_preview_walks_the_chain_and_matches_the_live_pages(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/pv-ada"), rules=[0, 2])
    bob = await api.user("Bob", webhook=sink.url("/pv-bob"))
    schedule = await _schedule_with(api, "pv", ada)
    policy = await api.post(
        "/escalation-policies",
        {
            "name": "pv",
            "levels": [
                {
                    "escalate_after_seconds": 1,
                    "targets": [{"type": "schedule", "id": schedule["id"]}],
                },
                {"escalate_after_seconds": 1, "targets": [{"type": "user", "id": bob["id"]}]},
            ],
        },
    )

    observer = await api.key_for(await api.user("Olga", role="observer"))
    at = datetime.now(UTC).replace(microsecond=0)
    response = await api.client.get(
        f"/api/v1/escalation-policies/{policy['id']}/preview",
        params={"at": at.isoformat()},
        headers=observer,
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert (preview["policy_name"], preview["urgency"], _at(preview["at"])) == ("pv", "high", at)
    first, second = preview["steps"]
    assert (first["type"], first["level"], first["loop"]) == ("level", 1, 0)
    assert (_at(first["at"]), _at(first["escalate_at"])) == (at, at + timedelta(seconds=1))
    [on_call] = first["on_call"]
    assert (on_call["user_id"], on_call["source"]) == (ada["id"], "override")
    assert on_call["override_id"] == schedule["override"]["id"]
    assert [
        (p["user_name"], p["delay_seconds"], _at(p["at"]), p["channel"], p["address"])
        for p in first["pages"]
    ] == [
        ("Ada", 0, at, "webhook", f"http://127.0.0.1:{sink.port}/…"),
        ("Ada", 2, at + timedelta(seconds=2), "webhook", f"http://127.0.0.1:{sink.port}/…"),
    ]
    assert (second["type"], second["level"], _at(second["at"])) == (
        "level",
        2,
        at + timedelta(seconds=1),
    )
    assert [(p["user_name"], _at(p["at"])) for p in second["pages"]] == [
        ("Bob", at + timedelta(seconds=1))
    ]
    assert _at(preview["exhausted_at"]) == at + timedelta(seconds=2)

    # The live engine, triggered now, sends exactly these pages at the same offsets.
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    await sink.wait_count("/pv-bob", 1)
    await jobs.step_applied(incident["id"], 1)
    created = _at(incident["created_at"])
    async with app.state.sessions() as session:
        rows = (
            await session.scalars(
                select(Notification).where(Notification.incident_id == incident["id"])
            )
        ).all()
    live = sorted(
        (r.level, r.loop, str(r.user_id), str(r.contact_method_id), r.due_at - created)
        for r in rows
    )
    previewed = sorted(
        (step["level"], step["loop"], p["user_id"], p["contact_method_id"], _at(p["at"]) - at)
        for step in preview["steps"]
        for p in step["pages"]
    )
    assert live == previewed
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)


async def test_the_preview_shows_skipped_levels_repeats_and_superseded_rules(api: Api) -> None:
    ada = await api.user("Ada", webhook="http://pager.example.com/ada", rules=[0, 600])
    empty = await _schedule_with(api, "empty", None)
    policy = await api.post(
        "/escalation-policies",
        {
            "name": "loops",
            "repeat": 1,
            "levels": [
                {"escalate_after_seconds": 300, "targets": [{"type": "user", "id": ada["id"]}]},
                {
                    "escalate_after_seconds": 300,
                    "targets": [{"type": "schedule", "id": empty["id"]}],
                },
            ],
        },
    )
    at = datetime(2026, 6, 1, 12, tzinfo=UTC)
    preview = await api.get(
        f"/escalation-policies/{policy['id']}/preview", params={"at": at.isoformat()}
    )
    assert preview["urgency"] == "high"
    steps = [(s["type"], s["level"], s["loop"], _at(s["at"]) - at) for s in preview["steps"]]
    minutes = timedelta(minutes=5)
    assert steps == [
        ("level", 1, 0, timedelta(0)),
        ("level_skipped", 2, 0, minutes),
        ("repeated", None, 1, minutes),
        ("level", 1, 1, minutes),
        ("level_skipped", 2, 1, 2 * minutes),
    ]
    assert preview["steps"][1]["unreachable"] == [
        {"target": {"type": "schedule", "id": empty["id"]}, "reason": "nobody on call"}
    ]
    assert _at(preview["exhausted_at"]) == at + 2 * minutes
    # Ada's 10-minute rule from loop 0 gives way to her loop-1 page at 5 minutes.
    delayed = [p for p in preview["steps"][0]["pages"] if p["delay_seconds"] == 600]
    assert [_at(p["superseded_at"]) for p in delayed] == [at + minutes]
    assert [p["superseded_at"] for p in preview["steps"][3]["pages"]] == [None, None]
    await api.get("/escalation-policies/7c9e6679-7425-40de-944b-e07fc1f90ae7/preview", status=404)


async def test_a_low_urgency_preview_shows_level_one_once_as_the_live_engine_pages(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/pv-low-ada"))
    bob = await api.user("Bob", webhook=sink.url("/pv-low-bob"))
    policy = await api.policy([(1, [ada["id"]]), (1, [bob["id"]])], repeat=2, name="pv-low")
    at = datetime.now(UTC).replace(microsecond=0)
    preview = await api.get(
        f"/escalation-policies/{policy['id']}/preview",
        params={"at": at.isoformat(), "urgency": "low"},
    )
    assert [(s["type"], s["level"], s["loop"]) for s in preview["steps"]] == [("level", 1, 0)]
    assert [p["user_name"] for p in preview["steps"][0]["pages"]] == ["Ada"]
    assert _at(preview["exhausted_at"]) == at + timedelta(seconds=1)

    # The live engine, for a low-urgency incident, pages Ada once and then is exhausted.
    service = await api.service(policy["id"], name="pv-low")
    incident = await api.trigger(service["id"], urgency="low")

    async def exhausted() -> bool:
        return any(e["type"] == "exhausted" for e in await api.timeline(incident["id"]))

    await jobs.until(exhausted)
    async with app.state.sessions() as session:
        rows = (
            await session.scalars(
                select(Notification).where(Notification.incident_id == incident["id"])
            )
        ).all()
    live = sorted((r.level, r.loop, str(r.user_id)) for r in rows)
    previewed = sorted(
        (step["level"], step["loop"], p["user_id"])
        for step in preview["steps"]
        for p in step["pages"]
    )
    assert live == previewed == [(1, 0, ada["id"])]
    assert sink.at("/pv-low-bob") == []
