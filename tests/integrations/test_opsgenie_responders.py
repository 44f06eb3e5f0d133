"""An Opsgenie alert's `responders` are paged, as an Opsgenie user expects: driven by Opsgenie's
own Python client against a real server, with a real worker paging a loopback sink."""

from typing import Any

import opsgenie_sdk  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.models import Notification
from tests.factories import Api
from tests.integrations.conftest import LiveServer
from tests.integrations.helpers import integration_key
from tests.integrations.test_opsgenie import _alert_api, _call
from tests.support import HttpSink, JobTracker
from tests.teams.conftest import join, team

pytestmark = pytest.mark.usefixtures("worker")


async def _create(alerts: Any, alias: str, responders: list[dict[str, str]]) -> str:
    payload = opsgenie_sdk.CreateAlertPayload(message=alias, alias=alias, responders=responders)
    created = await _call(alerts.create_alert, create_alert_payload=payload)
    status = await _call(alerts.get_request_status, request_id=created.request_id)
    assert (status.data.is_success, status.data.status) == (True, "Created alert")
    return str(status.data.alert_id)


async def _paged_users(app: Any, incident_id: str) -> list[str]:
    """The users the incident's steps wrote pages for."""
    async with app.state.sessions() as session:
        rows = await session.scalars(
            select(col(Notification.user_id)).where(col(Notification.incident_id) == incident_id)
        )
        return sorted(str(user_id) for user_id in set(rows))


async def _responders_entry(api: Api, incident_id: str) -> dict[str, Any]:
    [entry] = [e for e in await api.timeline(incident_id) if e["type"] == "responders"]
    details: dict[str, Any] = entry["details"]
    return details


async def test_named_users_teams_and_schedules_are_paged_beside_the_first_level(
    api: Api, live: LiveServer, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/og-ada"))
    bob = await api.user("Bob", webhook=sink.url("/og-bob"))
    cyd = await api.user("Cyd", webhook=sink.url("/og-cyd"))
    policy = await api.policy([(600, [ada["id"]])], name="checkout")
    service = await api.service(policy["id"], name="checkout")
    payments = await team(api, "payments")
    await join(api, payments["id"], cyd, "manager")  # no on-call schedule: its managers
    alerts = _alert_api(live, await integration_key(api, service["id"]))

    incident_id = await _create(
        alerts,
        "checkout-down",
        [
            {"type": "user", "username": "Bob@Example.com"},
            {"type": "team", "name": "payments"},
            {"type": "schedule", "name": "no such schedule"},
            {"type": "user", "username": "nobody@example.com"},
        ],
    )
    # The policy's own first level and every responder that names someone are paged at once.
    for path in ("/og-ada", "/og-bob", "/og-cyd"):
        [page] = await sink.wait_count(path, 1)
        assert (page.json()["incident"]["id"], page.json()["level"]) == (incident_id, 1)
    await jobs.step_applied(incident_id, 0)
    assert await _paged_users(app, incident_id) == sorted([ada["id"], bob["id"], cyd["id"]])

    details = await _responders_entry(api, incident_id)
    assert [(p["type"], p["name"]) for p in details["paged"]] == [
        ("user", "bob@example.com"),
        ("team", "payments"),
    ]
    # Unknown responders are told on the timeline, never an error for the sender.
    assert details["unknown"] == [
        {"type": "schedule", "name": "no such schedule"},
        {"type": "user", "username": "nobody@example.com"},
    ]


async def test_a_named_escalation_becomes_the_incidents_policy(
    api: Api, live: LiveServer, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    ada = await api.user("Ada", webhook=sink.url("/esc-ada"))
    dan = await api.user("Dan", webhook=sink.url("/esc-dan"))
    routine = await api.policy([(600, [ada["id"]])], name="routine")
    urgent = await api.policy([(600, [dan["id"]])], name="database urgent")
    service = await api.service(routine["id"], name="databases")
    alerts = _alert_api(live, await integration_key(api, service["id"]))

    incident_id = await _create(alerts, "replica-lag", [{"type": "escalation", "id": urgent["id"]}])
    [page] = await sink.wait_count("/esc-dan", 1)
    assert page.json()["incident"]["id"] == incident_id
    await jobs.step_applied(incident_id, 0)
    # The step that fired level 1 wrote its pages: Dan's only, none for the routine policy's Ada.
    assert await _paged_users(app, incident_id) == [dan["id"]]
    incident = await api.get(f"/incidents/{incident_id}")
    assert incident["escalation"]["policy_id"] == urgent["id"]
    details = await _responders_entry(api, incident_id)
    assert details["escalation_policy"] == {"id": urgent["id"], "name": "database urgent"}

    # The same alias again only counts an alert: nobody else is paged, the entry is not repeated.
    payload = opsgenie_sdk.CreateAlertPayload(
        message="replica-lag",
        alias="replica-lag",
        responders=[{"type": "user", "username": ada["email"]}],
    )
    await _call(alerts.create_alert, create_alert_payload=payload)
    assert (await api.get(f"/incidents/{incident_id}"))["alert_count"] == 2
    assert [e["type"] for e in await api.timeline(incident_id)].count("responders") == 1
    assert await _paged_users(app, incident_id) == [dan["id"]]
