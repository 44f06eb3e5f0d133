"""The one inbound pipeline: every source in one table, and an event that fails in its request
taken over by the inbox (retried, then set aside as dead) instead of being lost."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.integrations.sources import SOURCES, Delivery
from tests.factories import Api
from tests.integrations.helpers import incidents_of, integration_key, paged_service
from tests.support import JobTracker

# The database refuses to open incidents with this title: a failure the parser cannot foresee.
REFUSED = "refused by the database"
REFUSE = f"""
CREATE FUNCTION test_refuse_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.title = '{REFUSED}' THEN RAISE EXCEPTION 'incident refused for this test'; END IF;
  RETURN NEW;
END $$
"""
REFUSE_TRIGGER = (
    "CREATE TRIGGER test_refuse_incident BEFORE INSERT ON incidents"
    " FOR EACH ROW EXECUTE FUNCTION test_refuse_incident()"
)
UNREFUSE = [
    "DROP TRIGGER IF EXISTS test_refuse_incident ON incidents",
    "DROP FUNCTION IF EXISTS test_refuse_incident()",
]


def _notification(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "groupKey": '{}:{alertname="Refused"}',
        "commonAnnotations": {"summary": REFUSED},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "Refused", "severity": "critical"},
                "annotations": {"summary": REFUSED},
            }
        ],
    }


def test_every_source_is_one_line_of_the_table() -> None:
    assert set(SOURCES) == {
        "pagerduty",
        "alertmanager",
        "grafana",
        "generic",
        "heartbeat",
        "opsgenie",
    }
    assert SOURCES["pagerduty"].delivery is Delivery.INBOX
    assert {name for name, s in SOURCES.items() if s.webhook} == {"alertmanager", "grafana"}


@pytest.mark.usefixtures("worker")
async def test_a_webhook_event_that_fails_in_its_request_is_queued_retried_and_set_aside(
    api: Api, app: Any, client: httpx.AsyncClient, jobs: JobTracker
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="refusing")
    key = await integration_key(api, service["id"])
    url = f"/integrations/alertmanager/{key}"
    async with app.state.engine.begin() as conn:
        await conn.execute(text(REFUSE))
        await conn.execute(text(REFUSE_TRIGGER))
    try:
        firing = await client.post(url, json=_notification("firing"))
        assert firing.status_code == 202, firing.text
        assert [e["outcome"] for e in firing.json()["events"]] == ["queued"]
        # The resolve of the same alert group waits behind the trigger: order is kept.
        resolved = await client.post(url, json=_notification("resolved"))
        assert [e["outcome"] for e in resolved.json()["events"]] == ["queued"]

        async def set_aside() -> bool:
            dead = (await api.get("/inbound-events", params={"status": "dead"}))["items"]
            return len(dead) == 1

        await jobs.until(set_aside, timeout=30)
        [dead] = (await api.get("/inbound-events", params={"status": "dead"}))["items"]
        assert dead["action"] == "trigger"
        assert "incident refused for this test" in dead["error"]
        assert await incidents_of(api, service["id"]) == []
    finally:
        async with app.state.engine.begin() as conn:
            for statement in UNREFUSE:
                await conn.execute(text(statement))

    # The trigger went aside, so the resolve behind it went ahead (nothing was open): retried
    # now, the trigger opens the incident.
    await api.post(f"/inbound-events/{dead['id']}/retry", None, status=200)

    async def opened() -> bool:
        return len(await incidents_of(api, service["id"])) == 1

    await jobs.until(opened, timeout=30)
    [incident] = await incidents_of(api, service["id"])
    assert (incident["title"], incident["status"]) == (REFUSED, "triggered")
    assert (await api.get("/inbound-events", params={"status": "queued"}))["items"] == []


@pytest.mark.usefixtures("worker")
async def test_an_opsgenie_request_that_fails_tells_its_fate_in_its_status(
    api: Api, app: Any, client: httpx.AsyncClient, jobs: JobTracker
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="refusing-genie")
    genie = {"Authorization": f"GenieKey {await integration_key(api, service['id'])}"}
    async with app.state.engine.begin() as conn:
        await conn.execute(text(REFUSE))
        await conn.execute(text(REFUSE_TRIGGER))
    try:
        created = await client.post("/v2/alerts", json={"message": REFUSED}, headers=genie)
        assert created.status_code == 202, created.text
        status_url = f"/v2/alerts/requests/{created.json()['requestId']}"

        async def told() -> bool:
            return (await client.get(status_url, headers=genie)).status_code == 200

        await jobs.until(told, timeout=30)
        data = (await client.get(status_url, headers=genie)).json()["data"]
        assert (data["isSuccess"], data["action"]) == (False, "Create")
        assert "incident refused for this test" in data["status"]
    finally:
        async with app.state.engine.begin() as conn:
            for statement in UNREFUSE:
                await conn.execute(text(statement))
    [dead] = (await api.get("/inbound-events", params={"status": "dead"}))["items"]
    await api.post(f"/inbound-events/{dead['id']}/retry", None, status=200)

    async def created_now() -> bool:
        response = await client.get(status_url, headers=genie)
        return response.status_code == 200 and response.json()["data"]["isSuccess"]

    await jobs.until(created_now, timeout=30)
    data = (await client.get(status_url, headers=genie)).json()["data"]
    [incident] = await incidents_of(api, service["id"])
    assert (data["status"], data["alertId"]) == ("Created alert", incident["id"])
