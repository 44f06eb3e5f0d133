"""Schedule targets page whoever is on call at the level; rules by urgency; one chain per user."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import Notification
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def on_call_schedule(api: Api, name: str, user: dict[str, Any] | None) -> dict[str, Any]:
    """A schedule with nobody in its layers; `user` (if any) is on call by override for an hour."""
    schedule: dict[str, Any] = await api.post("/schedules", {"name": name, "time_zone": "UTC"})
    if user is not None:
        await override(api, schedule, user)
    return schedule


async def override(api: Api, schedule: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    result: dict[str, Any] = await api.post(
        f"/schedules/{schedule['id']}/overrides",
        {
            "user_id": user["id"],
            "start": _iso(now - timedelta(hours=1)),
            "end": _iso(now + timedelta(hours=1)),
        },
    )
    return result


async def policy(
    api: Api, levels: list[tuple[int, list[dict[str, str]]]], name: str
) -> dict[str, Any]:
    body = {
        "name": name,
        "levels": [
            {"escalate_after_seconds": delay, "targets": targets} for delay, targets in levels
        ],
    }
    result: dict[str, Any] = await api.post("/escalation-policies", body)
    return result


def sched(schedule: dict[str, Any]) -> dict[str, str]:
    return {"type": "schedule", "id": schedule["id"]}


def user(person: dict[str, Any]) -> dict[str, str]:
    return {"type": "user", "id": person["id"]}


async def notifications(app: Any, incident_id: str) -> list[Notification]:
    async with app.state.sessions() as session:
        rows = await session.scalars(
            select(Notification)
            .where(col(Notification.incident_id) == incident_id)
            .order_by(col(Notification.level), col(Notification.due_at))
        )
        return list(rows.all())


async def test_a_schedule_target_pages_whoever_is_on_call(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/on-ana"))
    ben = await api.user("Ben", webhook=sink.url("/on-ben"))
    schedule: dict[str, Any] = await api.post(
        "/schedules",
        {
            "name": "primary",
            "time_zone": "UTC",
            "layers": [
                {"participants": [ana["id"]], "rotation": "daily", "start": "2026-01-01T00:00:00Z"}
            ],
        },
    )
    ben_override = await override(api, schedule, ben)
    service = await api.service((await policy(api, [(600, [sched(schedule)])], "on"))["id"])

    incident = await api.trigger(service["id"])
    [page] = await sink.wait_count("/on-ben", 1)
    assert (page.json()["level"], page.json()["user"]["id"]) == (1, ben["id"])
    await jobs.step_applied(incident["id"], 0)
    [row] = await notifications(app, incident["id"])
    assert (str(row.user_id), row.target_type) == (ben["id"], "schedule")
    assert sink.at("/on-ana") == []
    escalated = next(i for i in await api.timeline(incident["id"]) if i["type"] == "escalated")
    [on_call] = escalated["details"]["on_call"]
    assert on_call["user_id"] == ben["id"]
    assert (on_call["source"], on_call["override_id"]) == ("override", ben_override["id"])


async def test_an_empty_schedule_is_skipped_and_the_timeline_says_why(
    api: Api, sink: HttpSink
) -> None:
    ben = await api.user("Ben", webhook=sink.url("/empty-ben"))
    empty = await on_call_schedule(api, "empty", None)
    levels = [(1800, [sched(empty)]), (600, [user(ben)])]
    service = await api.service((await policy(api, levels, "empty"))["id"])
    incident = await api.trigger(service["id"])
    [page] = await sink.wait_count("/empty-ben", 1)
    assert page.json()["level"] == 2
    timeline = await api.timeline(incident["id"])
    skipped = next(i for i in timeline if i["type"] == "level_skipped")
    assert skipped["details"]["level"] == 1
    assert skipped["details"]["reasons"] == [
        {"target": {"type": "schedule", "id": empty["id"]}, "reason": "nobody on call"}
    ]
    escalated = next(i for i in timeline if i["type"] == "escalated")
    assert escalated["at"] == skipped["at"]


async def test_a_schedule_edited_after_the_trigger_changes_only_later_levels(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/edit-ana"))
    ben = await api.user("Ben", webhook=sink.url("/edit-ben"))
    schedule = await on_call_schedule(api, "edited", None)
    ana_override = await override(api, schedule, ana)
    levels = [(2, [sched(schedule)]), (600, [sched(schedule)])]
    service = await api.service((await policy(api, levels, "edited"))["id"])

    incident = await api.trigger(service["id"])
    await sink.wait_count("/edit-ana", 1)
    # Level 1 has paged Ana; hand the pager to Ben before level 2 is reached.
    response = await api.client.delete(
        f"/api/v1/schedules/{schedule['id']}/overrides/{ana_override['id']}", headers=api.headers
    )
    assert response.status_code == 204
    await override(api, schedule, ben)

    [page] = await sink.wait_count("/edit-ben", 1)
    assert page.json()["level"] == 2
    await jobs.step_applied(incident["id"], 1)
    rows = await notifications(app, incident["id"])
    assert [(r.level, str(r.user_id)) for r in rows] == [(1, ana["id"]), (2, ben["id"])]
    assert [p.json()["level"] for p in sink.at("/edit-ana")] == [1]


async def test_notification_rules_apply_by_incident_urgency(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/urg-high"))
    low_method = await api.post(
        f"/users/{ana['id']}/contact-methods", {"type": "webhook", "address": sink.url("/urg-low")}
    )
    await api.post(f"/users/{ana['id']}/contact-methods/{low_method['id']}/mark-verified", {}, 200)
    await api.post(
        f"/users/{ana['id']}/notification-rules",
        {"contact_method_id": ana["contact_method"]["id"], "urgency": "high"},
    )
    low_rule = await api.post(
        f"/users/{ana['id']}/notification-rules",
        {"contact_method_id": low_method["id"], "delay_seconds": 0, "urgency": "low"},
    )
    assert low_rule["urgency"] == "low"
    details = (
        await api.post(
            f"/users/{ana['id']}/notification-rules",
            {"contact_method_id": low_method["id"], "urgency": "medium"},
            status=422,
        )
    )["error"]
    assert details["details"][0]["field"] == "urgency"
    cy = await api.user("Cy", webhook=sink.url("/urg-cy"))
    await api.post(
        f"/users/{cy['id']}/notification-rules",
        {"contact_method_id": cy["contact_method"]["id"], "urgency": "high"},
    )
    service = await api.service((await policy(api, [(600, [user(ana), user(cy)])], "urg"))["id"])

    low = await api.trigger(service["id"], urgency="low", dedup_key="low")
    await sink.wait_count("/urg-low", 1)
    await jobs.step_applied(low["id"], 0)
    assert [(str(r.user_id), r.address) for r in await notifications(app, low["id"])] == [
        (ana["id"], sink.url("/urg-low"))
    ]
    escalated = next(i for i in await api.timeline(low["id"]) if i["type"] == "escalated")
    assert escalated["details"]["unreachable"] == [
        {"target": user(cy), "reason": "user has no notification rule for low-urgency incidents"}
    ]

    high = await api.trigger(service["id"], urgency="high", dedup_key="high")
    await sink.wait_count("/urg-cy", 1)
    await jobs.step_applied(high["id"], 0)
    assert sorted(r.address for r in await notifications(app, high["id"])) == sorted(
        [sink.url("/urg-high"), sink.url("/urg-cy")]
    )
    assert len(sink.at("/urg-low")) == 1


async def test_a_user_paged_again_keeps_only_the_newest_rule_chain(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/chain"), rules=[0, 900])
    bob = await api.user("Bob", webhook=sink.url("/chain-bob"), rules=[0, 900])
    levels = [(1, [user(ana), user(bob)]), (600, [user(ana)])]
    service = await api.service((await policy(api, levels, "chain"))["id"])
    incident = await api.trigger(service["id"])

    # Level 2 comes 1 s after level 1; the rest of the time is room for a loaded CI machine.
    pages = await sink.wait_count("/chain", 2, timeout=30)
    assert [p.json()["level"] for p in pages] == [1, 2]
    await jobs.step_applied(incident["id"], 1)
    for row in await notifications(app, incident["id"]):
        if row.due_at < datetime.now(UTC):  # the immediate pages: wait until they settle
            await jobs.page_settled(row.id)
    rows = await notifications(app, incident["id"])
    chains = [(r.level, str(r.user_id), r.status) for r in rows if r.status != "sent"]
    # Ana's level-1 delayed rule gave way to her level-2 chain; Bob was not paged again.
    assert sorted(chains) == sorted(
        [(1, ana["id"], "cancelled"), (1, bob["id"], "pending"), (2, ana["id"], "pending")]
    )
    cancelled = [
        i for i in await api.timeline(incident["id"]) if i["type"] == "notification_cancelled"
    ]
    assert [(c["details"]["user_id"], c["details"]["level"]) for c in cancelled] == [(ana["id"], 1)]
    assert cancelled[0]["details"]["reason"] == "superseded by the page at level 2 (loop 0)"
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)


async def test_one_user_named_twice_at_a_level_gets_one_chain(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ana = await api.user("Ana", webhook=sink.url("/twice"))
    schedule = await on_call_schedule(api, "twice", ana)
    service = await api.service(
        (await policy(api, [(600, [user(ana), sched(schedule)])], "twice"))["id"]
    )
    incident = await api.trigger(service["id"])
    await sink.wait_count("/twice", 1)
    await jobs.step_applied(incident["id"], 0)
    rows = await notifications(app, incident["id"])
    assert [(r.target_type, str(r.user_id)) for r in rows] == [("user", ana["id"])]


async def test_paging_the_same_level_again_by_hand_restarts_the_users_chain(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/again"), rules=[0, 900])
    service = await api.service((await policy(api, [(1, [user(ada)])], "again"))["id"])
    incident = await api.trigger(service["id"])
    await sink.wait_count("/again", 1)
    await jobs.step_applied(incident["id"], 1)  # the chain is exhausted
    escalated = await api.post(f"/incidents/{incident['id']}/escalate", {"level": 1}, status=200)
    assert escalated["changed"] is True

    pages = await sink.wait_count("/again", 2)
    assert [(p.json()["level"], p.json()["loop"]) for p in pages] == [(1, 0), (1, 0)]
    soon = datetime.now(UTC) + timedelta(minutes=1)
    delayed = [r for r in await notifications(app, incident["id"]) if r.due_at > soon]
    # Same level and loop, paged afresh: only the newest 15-minute rule is still pending.
    assert sorted(r.status for r in delayed) == ["cancelled", "pending"]
    [old] = [r for r in delayed if r.status == "cancelled"]
    [new] = [r for r in delayed if r.status == "pending"]
    assert old.created_at < new.created_at
    await api.post(f"/incidents/{incident['id']}/resolve", {}, status=200)
