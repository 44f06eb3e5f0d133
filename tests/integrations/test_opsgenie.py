"""The Opsgenie-compatible Alert API, driven by Opsgenie's own Python client (`opsgenie-sdk`)
pointed at a real Stairway server: senders only change the host."""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import opsgenie_sdk  # type: ignore[import-untyped]
import pytest

from tests.factories import Api
from tests.integrations.conftest import LiveServer
from tests.integrations.helpers import incidents_of, integration_key, paged_service

pytestmark = pytest.mark.usefixtures("worker")
T = TypeVar("T")


def _alert_api(live: LiveServer, key: str) -> Any:
    conf = opsgenie_sdk.configuration.Configuration()
    conf.host = live.http_url
    conf.api_key["Authorization"] = key
    conf.api_key_prefix["Authorization"] = "GenieKey"
    conf.retry_enabled = False
    return opsgenie_sdk.AlertApi(api_client=opsgenie_sdk.api_client.ApiClient(configuration=conf))


async def _call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The client is synchronous: run it beside the server's event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def test_create_acknowledge_note_and_close_by_alias_with_the_opsgenie_client(
    api: Api, live: LiveServer
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="payments")
    key = await integration_key(api, service["id"])
    alerts = _alert_api(live, key)
    created = await _call(
        alerts.create_alert,
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(
            message="Payments API p99 over 2s",
            alias="payments-latency",
            description="p99 latency has been over 2s for 5 minutes",
            responders=[{"name": "payments", "type": "team"}],
            tags=["payments", "latency"],
            details={"region": "eu-west-1"},
            entity="payments-api",
            source="grafana-eu",
            priority="P2",
        ),
    )
    assert created.result == "Request will be processed"
    status = await _call(alerts.get_request_status, request_id=created.request_id)
    assert (status.data.is_success, status.data.status) == (True, "Created alert")
    assert status.data.alias == "payments-latency"
    [incident] = await incidents_of(api, service["id"])
    assert incident["id"] == status.data.alert_id
    assert incident["title"] == "Payments API p99 over 2s"
    assert (incident["priority"], incident["severity"], incident["urgency"]) == (
        "P2",
        "error",
        "high",
    )
    assert incident["source"] == "grafana-eu"
    assert incident["details"]["tags"] == ["payments", "latency"]
    assert incident["details"]["details"] == {"region": "eu-west-1"}
    assert (await api.get("/incidents", params={"priority": "P2"}))["items"] == [incident]
    assert (await api.get("/incidents", params={"priority": ["P1", "P3"]}))["items"] == []

    # The same alias again counts one more alert on the open incident.
    again = await _call(
        alerts.create_alert,
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(
            message="Payments API p99 over 2s", alias="payments-latency"
        ),
    )
    status = await _call(alerts.get_request_status, request_id=again.request_id)
    assert status.data.alert_id == incident["id"]
    acked = await _call(
        alerts.acknowledge_alert,
        identifier="payments-latency",
        identifier_type="alias",
        acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user="ada", note="on it"),
    )
    status = await _call(alerts.get_request_status, request_id=acked.request_id)
    assert (status.data.action, status.data.status) == ("Acknowledge", "Acknowledged alert")
    noted = await _call(
        alerts.add_note,
        identifier="payments-latency",
        identifier_type="alias",
        add_note_to_alert_payload=opsgenie_sdk.AddNoteToAlertPayload(note="rolled back 1.4.2"),
    )
    assert (await _call(alerts.get_request_status, request_id=noted.request_id)).data.is_success
    closed = await _call(
        alerts.close_alert,
        identifier="payments-latency",
        identifier_type="alias",
        close_alert_payload=opsgenie_sdk.CloseAlertPayload(source="grafana-eu"),
    )
    status = await _call(alerts.get_request_status, request_id=closed.request_id)
    assert (status.data.action, status.data.status) == ("Close", "Closed alert")

    read = await api.get(f"/incidents/{incident['id']}")
    assert (read["status"], read["alert_count"]) == ("resolved", 2)
    timeline = await api.timeline(incident["id"])
    kinds = [e["type"] for e in timeline]
    assert kinds.index("acknowledged") < kinds.index("resolved")
    notes = [e["details"]["text"] for e in timeline if e["type"] == "note"]
    assert notes == ["on it", "rolled back 1.4.2"]
    # The alias is free again: closing a closed alert says so, and nothing is open to act on.
    late = await _call(
        alerts.acknowledge_alert, identifier="payments-latency", identifier_type="alias"
    )
    status = await _call(alerts.get_request_status, request_id=late.request_id)
    assert (status.data.is_success, status.data.status) == (False, "Alert does not exist")


async def test_alerts_are_found_by_id_and_tiny_id_within_the_keys_service(
    api: Api, live: LiveServer
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="search")
    other = await paged_service(api, "http://127.0.0.1:9/unused", name="billing")
    key = await integration_key(api, service["id"])
    foreign = await api.trigger(other["id"], dedup_key="billing-down")
    alerts = _alert_api(live, key)
    await _call(
        alerts.create_alert,
        create_alert_payload=opsgenie_sdk.CreateAlertPayload(message="Search down", priority="P5"),
    )
    [incident] = await incidents_of(api, service["id"])
    assert (incident["priority"], incident["severity"], incident["urgency"]) == (
        "P5",
        "info",
        "low",
    )
    acked = await _call(
        alerts.acknowledge_alert, identifier=str(incident["number"]), identifier_type="tiny"
    )
    assert (await _call(alerts.get_request_status, request_id=acked.request_id)).data.is_success
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "acknowledged"
    closed = await _call(alerts.close_alert, identifier=incident["id"], identifier_type="id")
    assert (await _call(alerts.get_request_status, request_id=closed.request_id)).data.is_success
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "resolved"
    # Another service's incident is not this key's to close.
    refused = await _call(alerts.close_alert, identifier=foreign["id"], identifier_type="id")
    status = await _call(alerts.get_request_status, request_id=refused.request_id)
    assert status.data.is_success is False
    assert (await api.get(f"/incidents/{foreign['id']}"))["status"] == "triggered"


async def test_opsgenie_shaped_errors_name_the_field(api: Api, client: httpx.AsyncClient) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="errors")
    key = await integration_key(api, service["id"])
    genie = {"Authorization": f"GenieKey {key}"}
    missing = await client.post("/v2/alerts", json={"message": "x"})
    assert missing.status_code == 401
    assert missing.json()["message"] == "Could not authenticate"
    assert missing.json()["requestId"]
    wrong = await client.post(
        "/v2/alerts", json={"message": "x"}, headers={"Authorization": "GenieKey nope"}
    )
    assert wrong.status_code == 401
    empty = await client.post("/v2/alerts", json={"alias": "a"}, headers=genie)
    assert empty.status_code == 422
    assert empty.json()["errors"] == {"message": "Message can not be empty."}
    priority = await client.post(
        "/v2/alerts", json={"message": "x", "priority": "P9"}, headers=genie
    )
    assert priority.status_code == 422
    assert list(priority.json()["errors"]) == ["priority"]
    long = await client.post("/v2/alerts", json={"message": "x" * 131}, headers=genie)
    assert long.json()["errors"] == {"message": "Message can not exceed 130 characters."}
    kind = await client.post(
        "/v2/alerts/a/acknowledge", params={"identifierType": "name"}, headers=genie
    )
    assert kind.status_code == 422
    assert list(kind.json()["errors"]) == ["identifierType"]
    note = await client.post(
        "/v2/alerts/a/notes", params={"identifierType": "alias"}, json={}, headers=genie
    )
    assert note.json()["errors"] == {"note": "Note can not be empty."}
    unsafe = await client.post(
        "/v2/alerts/a%00b/close", params={"identifierType": "alias"}, headers=genie
    )
    assert unsafe.status_code == 422, unsafe.text
    assert list(unsafe.json()["errors"]) == ["identifier"]
    nul_name = await client.get("/v2/heartbeats/a%00b/ping", headers=genie)
    assert list(nul_name.json()["errors"]) == ["name"]
    superscript = await client.post(
        "/v2/alerts/²/close", params={"identifierType": "tiny"}, headers=genie
    )
    assert superscript.status_code == 202
    unknown = await client.get(
        "/v2/alerts/requests/9b8c1a9e-8f0e-4d5c-9d7e-1f2a3b4c5d6e", headers=genie
    )
    assert unknown.status_code == 404
    assert await incidents_of(api, service["id"]) == []


async def test_heartbeat_pings_by_name(api: Api, client: httpx.AsyncClient) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused", name="backups")
    key = await integration_key(api, service["id"])
    heartbeat = await api.post(
        "/heartbeats",
        {"service_id": service["id"], "name": "nightly-backup", "interval_seconds": 3600},
    )
    genie = {"Authorization": f"GenieKey {key}"}
    for method in ("GET", "POST"):
        pong = await client.request(method, "/v2/heartbeats/nightly-backup/ping", headers=genie)
        assert pong.status_code == 202, pong.text
        assert pong.json()["result"] == "PONG - Heartbeat received"
    assert (await api.get(f"/heartbeats/{heartbeat['id']}"))["status"] == "up"
    unknown = await client.get("/v2/heartbeats/weekly/ping", headers=genie)
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Heartbeat with name [weekly] does not exist."
