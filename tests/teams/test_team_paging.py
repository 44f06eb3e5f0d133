"""A team escalation target pages the team's on-call person, or its managers: real worker, sink."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import Notification
from tests.factories import Api
from tests.support import HttpSink
from tests.teams.conftest import join, owned_policy, team

pytestmark = pytest.mark.usefixtures("worker")


async def _on_call(api: Api, name: str, person: dict[str, Any] | None) -> dict[str, Any]:
    """A schedule with no layers; `person` (if any) on call by override for the next hour."""
    schedule: dict[str, Any] = await api.post("/schedules", {"name": name, "time_zone": "UTC"})
    if person is not None:
        now = datetime.now(UTC)
        window = {
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
        }
        await api.post(
            f"/schedules/{schedule['id']}/overrides", {"user_id": person["id"], **window}
        )
    return schedule


async def _team_policy(api: Api, team_id: str, name: str) -> dict[str, Any]:
    return await owned_policy(api, name, team_id, {"type": "team", "id": team_id})


async def _pages(app: Any, incident_id: str) -> list[tuple[str, str]]:
    """(user id, target type) of every page the steps wrote for the incident."""
    async with app.state.sessions() as session:
        rows = await session.scalars(
            select(Notification).where(col(Notification.incident_id) == incident_id)
        )
        return sorted((str(row.user_id), row.target_type) for row in rows)


async def test_a_team_target_pages_whoever_the_team_schedule_has_on_call(
    api: Api, sink: HttpSink, app: Any
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/team-ana"))
    mia = await api.user("Mia", webhook=sink.url("/team-mia"))
    schedule = await _on_call(api, "payments primary", ana)
    payments = await team(api, "payments", oncall_schedule_id=schedule["id"])
    await join(api, payments["id"], mia, "manager")
    await join(api, payments["id"], ana, "responder")
    policy = await _team_policy(api, payments["id"], "payments team")
    service = await api.service(policy["id"], team_id=payments["id"])

    preview = await api.get(f"/escalation-policies/{policy['id']}/preview")
    [level] = preview["steps"]
    assert [p["user_name"] for p in level["pages"]] == ["Ana"]
    [resolved] = level["on_call"]
    assert (resolved["team_name"], resolved["via"], resolved["user_id"]) == (
        "payments",
        "schedule",
        ana["id"],
    )

    incident = await api.trigger(service["id"])
    [page] = await sink.wait_count("/team-ana", 1)
    assert (page.json()["level"], page.json()["incident"]["id"]) == (1, incident["id"])
    # The level's pages are written in one step: once Ana's arrived, any page to Mia exists too.
    assert sink.at("/team-mia") == []
    assert await _pages(app, incident["id"]) == [(ana["id"], "team")]
    escalated = next(i for i in await api.timeline(incident["id"]) if i["type"] == "escalated")
    [on_call] = escalated["details"]["on_call"]
    assert (on_call["via"], on_call["user_id"], on_call["source"]) == (
        "schedule",
        ana["id"],
        "override",
    )


@pytest.mark.parametrize("schedule_kind", ["no-schedule", "nobody-on-call"])
async def test_a_team_with_nobody_on_call_pages_its_managers(
    api: Api, sink: HttpSink, app: Any, schedule_kind: str
) -> None:
    mia = await api.user("Mia", webhook=sink.url(f"/{schedule_kind}/mia"))
    max_ = await api.user("Max", webhook=sink.url(f"/{schedule_kind}/max"))
    rex = await api.user("Rex", webhook=sink.url(f"/{schedule_kind}/rex"))
    fields = {}
    if schedule_kind == "nobody-on-call":
        fields["oncall_schedule_id"] = (await _on_call(api, "empty", None))["id"]
    storage = await team(api, "storage", **fields)
    await join(api, storage["id"], mia, "manager")
    await join(api, storage["id"], max_, "manager")
    await join(api, storage["id"], rex, "responder")
    policy = await _team_policy(api, storage["id"], "storage team")
    service = await api.service(policy["id"], team_id=storage["id"])

    preview = await api.get(f"/escalation-policies/{policy['id']}/preview")
    [level] = preview["steps"]
    assert sorted(p["user_name"] for p in level["pages"]) == ["Max", "Mia"]
    [resolved] = level["on_call"]
    assert (resolved["via"], sorted(resolved["user_ids"])) == (
        "managers",
        sorted([mia["id"], max_["id"]]),
    )

    incident = await api.trigger(service["id"])
    await sink.wait_count(f"/{schedule_kind}/mia", 1)
    await sink.wait_count(f"/{schedule_kind}/max", 1)
    # The level's pages are written in one step: once theirs arrived, any page to Rex exists too.
    assert sink.at(f"/{schedule_kind}/rex") == []
    assert await _pages(app, incident["id"]) == sorted([(mia["id"], "team"), (max_["id"], "team")])


async def test_a_team_with_nobody_to_page_is_skipped_and_the_timeline_says_why(
    api: Api, sink: HttpSink
) -> None:
    ben = await api.user("Ben", webhook=sink.url("/team-empty-ben"))
    empty = await team(api, "empty")
    body = {
        "name": "empty team first",
        "levels": [
            {"escalate_after_seconds": 1800, "targets": [{"type": "team", "id": empty["id"]}]},
            {"escalate_after_seconds": 600, "targets": [{"type": "user", "id": ben["id"]}]},
        ],
    }
    policy = await api.post("/escalation-policies", body)
    service = await api.service(policy["id"])
    incident = await api.trigger(service["id"])
    [page] = await sink.wait_count("/team-empty-ben", 1)
    assert page.json()["level"] == 2
    skipped = next(i for i in await api.timeline(incident["id"]) if i["type"] == "level_skipped")
    [reason] = skipped["details"]["reasons"]
    assert reason["target"] == {"type": "team", "id": empty["id"]}
    assert reason["reason"] == "team has nobody on call and no managers"


async def test_a_team_responder_with_the_observer_role_acknowledges_from_the_page(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    theo = await api.user("Theo", webhook=sink.url("/team-theo"), role="observer")
    schedule = await _on_call(api, "payments nights", theo)
    payments = await team(api, "payments", oncall_schedule_id=schedule["id"])
    await join(api, payments["id"], theo, "responder")
    policy = await _team_policy(api, payments["id"], "payments nights")
    service = await api.service(policy["id"], team_id=payments["id"])
    incident = await api.trigger(service["id"])

    [page] = await sink.wait_count("/team-theo", 1)
    acted = await client.post(page.json()["actions"]["acknowledge"])
    assert acted.status_code == 200, acted.text
    current = await api.get(f"/incidents/{incident['id']}")
    assert current["status"] == "acknowledged"
    assert current["acknowledged_by"]["name"] == "Theo"


async def test_an_observer_outside_the_team_may_not_acknowledge_from_a_page(
    api: Api, sink: HttpSink, client: httpx.AsyncClient
) -> None:
    olga = await api.user("Olga", webhook=sink.url("/team-olga"), role="observer")
    payments = await team(api, "payments")
    await join(api, payments["id"], olga, "observer")
    policy = await api.policy([(600, [olga["id"]])], name="olga")
    service = await api.service(policy["id"], team_id=payments["id"])
    incident = await api.trigger(service["id"])

    [page] = await sink.wait_count("/team-olga", 1)
    refused = await client.post(page.json()["actions"]["acknowledge"])
    assert refused.status_code == 403
    assert "only responders and admins" in refused.text
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "triggered"
