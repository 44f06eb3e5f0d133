"""Grafana alerting's webhook contact point."""

import httpx
import pytest

from tests.factories import Api
from tests.integrations.helpers import incidents_of, integration_key, paged_service
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")


def _notification(status: str) -> dict[str, object]:
    """A notification as Grafana sends it (the shape of Grafana's documented example)."""
    return {
        "receiver": "stairway",
        "status": status,
        "orgId": 1,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "High memory usage",
                    "team": "blue",
                    "zone": "us-1",
                    "severity": "warning",
                },
                "annotations": {
                    "description": "The system has high memory usage",
                    "runbook_url": "https://myrunbook.com/runbook/1234",
                    "summary": "This alert was triggered for zone us-1",
                },
                "startsAt": "2026-11-22T09:51:03.157076+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example.com/alerting/1afz29v7z/edit",
                "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://grafana.example.com/alerting/silence/new",
                "dashboardURL": "https://grafana.example.com/d/abc",
                "panelURL": "https://grafana.example.com/d/abc?viewPanel=2",
                "values": {"B": 44.23943737541908, "C": 1},
                "valueString": "[ var='B' labels={} value=44.2 ]",
            }
        ],
        "groupLabels": {"alertname": "High memory usage"},
        "commonLabels": {
            "alertname": "High memory usage",
            "team": "blue",
            "zone": "us-1",
            "severity": "warning",
        },
        "commonAnnotations": {"summary": "This alert was triggered for zone us-1"},
        "externalURL": "https://grafana.example.com/",
        "version": "1",
        "groupKey": '{}:{alertname="High memory usage"}',
        "truncatedAlerts": 0,
        "title": f"[{status.upper()}:1] High memory usage (blue us-1)",
        "state": "alerting" if status == "firing" else "ok",
        "message": "**Firing**\n\nValue: B=44.2",
    }


async def test_grafana_notifications_open_and_resolve_an_incident(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    service = await paged_service(api, sink.url("/grafana"))
    key = await integration_key(api, service["id"])
    path = f"/integrations/grafana/{key}"

    response = await client.post(path, json=_notification("firing"))
    assert response.status_code == 202
    [event] = response.json()["events"]
    assert event["outcome"] == "created"
    assert event["dedup_key"].startswith("grafana:group:")
    [page] = await sink.wait_count("/grafana", 1)
    [incident] = await incidents_of(api, service["id"])
    assert page.json()["incident"]["id"] == incident["id"]
    assert incident["title"] == "This alert was triggered for zone us-1"
    assert incident["severity"] == "warning"
    details = incident["details"]
    assert details["labels"]["team"] == "blue"
    assert details["title"] == "[FIRING:1] High memory usage (blue us-1)"
    assert details["orgId"] == 1
    [alert] = details["alerts"]
    assert alert["dashboardURL"] == "https://grafana.example.com/d/abc"
    assert alert["values"] == {"B": 44.23943737541908, "C": 1}

    resolved = await client.post(path, json=_notification("resolved"))
    assert resolved.json()["events"][0]["outcome"] == "changed"
    [incident] = await incidents_of(api, service["id"])
    assert incident["status"] == "resolved"


async def test_per_alert_grouping_applies_to_grafana_too(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    service = await paged_service(api, sink.url("/grafana-alert"))
    key = await integration_key(api, service["id"], alert_grouping="alert")
    response = await client.post(f"/integrations/grafana/{key}", json=_notification("firing"))
    assert response.json()["events"][0]["dedup_key"] == "grafana:alert:c6eadffa33fcdf37"
    await sink.wait_count("/grafana-alert", 1)
    [incident] = await incidents_of(api, service["id"])
    assert incident["details"]["panelURL"].endswith("viewPanel=2")
