"""Prometheus Alertmanager webhooks: a real Alertmanager end to end, then payload cases."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Api
from tests.integrations.alertmanager_process import running_alertmanager
from tests.integrations.conftest import LiveServer
from tests.integrations.helpers import incidents_of, integration_key, paged_service
from tests.support import HttpSink

pytestmark = pytest.mark.usefixtures("worker")

LABELS = {"alertname": "HighLatency", "severity": "critical", "instance": "web-1", "job": "api"}


async def test_a_real_alertmanager_opens_and_resolves_an_incident(
    api: Api, live: LiveServer, sink: HttpSink, tmp_path: Path
) -> None:
    service = await paged_service(api, sink.url("/am"))
    key = await integration_key(api, service["id"])
    webhook = f"{live.http_url}/integrations/alertmanager/{key}"
    started = datetime.now(UTC) - timedelta(minutes=1)
    alert = {
        "labels": LABELS,
        "annotations": {"summary": "p99 latency over 2s on web-1", "runbook": "https://rb/1"},
        "startsAt": started.isoformat(),
        "generatorURL": "http://prometheus.example.com/graph?g0.expr=latency",
    }

    async def incidents_with(status: str) -> bool:
        return any(i["status"] == status for i in await incidents_of(api, service["id"]))

    async with (
        running_alertmanager(tmp_path, webhook) as manager,
        httpx.AsyncClient(base_url=manager.url, trust_env=False) as am,
    ):
        posted = await am.post("/api/v2/alerts", json=[alert])
        assert posted.status_code == 200, posted.text
        await live.watch.until(lambda: incidents_with("triggered"))
        [page] = await sink.wait_count("/am", 1)
        [incident] = await incidents_of(api, service["id"])
        assert page.json()["incident"]["id"] == incident["id"]
        assert incident["title"] == "p99 latency over 2s on web-1"
        assert (incident["severity"], incident["source"]) == ("critical", "web-1")
        details = incident["details"]
        assert details["labels"] == LABELS
        assert details["annotations"]["runbook"] == "https://rb/1"
        assert details["groupKey"] == '{}:{alertname="HighLatency"}'
        assert details["alerts"][0]["fingerprint"]
        assert details["alerts"][0]["generatorURL"].startswith("http://prometheus.example.com")

        # The problem went away: Alertmanager sends the group as resolved at the next flush.
        ended = {**alert, "endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()}
        assert (await am.post("/api/v2/alerts", json=[ended])).status_code == 200
        await live.watch.until(lambda: incidents_with("resolved"))
    [resolved] = await incidents_of(api, service["id"])
    assert resolved["id"] == incident["id"]
    assert resolved["resolved_by"]["type"] == "integration"
    assert len(sink.at("/am")) == 1


def _alert(status: str, fingerprint: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", **labels},
        "annotations": {"summary": f"disk full on {labels.get('instance', '?')}"},
        "startsAt": "2026-11-22T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def _payload(status: str, alerts: list[dict[str, Any]], **common: Any) -> dict[str, Any]:
    return {
        "version": "4",
        "receiver": "stairway",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": common.get("commonLabels", {"alertname": "DiskFull"}),
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
    }


async def test_per_alert_grouping_opens_one_incident_per_fingerprint(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    service = await paged_service(api, sink.url("/am-alert"))
    key = await integration_key(api, service["id"], alert_grouping="alert")
    keys = await api.get(f"/services/{service['id']}/integration-keys")
    assert keys["items"][0]["alert_grouping"] == "alert"
    path = f"/integrations/alertmanager/{key}"
    firing = _payload(
        "firing",
        [
            _alert("firing", "aaaa1111", instance="db-1", severity="warning"),
            _alert("firing", "bbbb2222", instance="db-2", severity="page"),
        ],
    )
    response = await client.post(path, json=firing)
    assert response.status_code == 202
    assert [e["outcome"] for e in response.json()["events"]] == ["created", "created"]
    await sink.wait_count("/am-alert", 2)
    listed = sorted(await incidents_of(api, service["id"]), key=lambda i: i["dedup_key"])
    assert [(i["dedup_key"], i["severity"], i["title"]) for i in listed] == [
        ("alertmanager:alert:aaaa1111", "warning", "disk full on db-1"),
        ("alertmanager:alert:bbbb2222", "critical", "disk full on db-2"),
    ]
    assert listed[0]["details"]["labels"]["instance"] == "db-1"

    again = await client.post(path, json=firing)
    assert [e["outcome"] for e in again.json()["events"]] == ["deduplicated", "deduplicated"]
    partly = _payload(
        "firing",
        [
            _alert("resolved", "aaaa1111", instance="db-1"),
            _alert("firing", "bbbb2222", instance="db-2", severity="page"),
        ],
    )
    await client.post(path, json=partly)
    listed = sorted(await incidents_of(api, service["id"]), key=lambda i: i["dedup_key"])
    assert [(i["status"], i["alert_count"]) for i in listed] == [("resolved", 2), ("triggered", 3)]


async def test_group_grouping_takes_the_worst_severity_and_resolves_with_the_group(
    api: Api, client: httpx.AsyncClient, sink: HttpSink
) -> None:
    service = await paged_service(api, sink.url("/am-group"))
    key = await integration_key(api, service["id"])
    path = f"/integrations/alertmanager/{key}"
    firing = _payload(
        "firing",
        [
            _alert("firing", "aaaa1111", instance="db-1", severity="info"),
            _alert("firing", "bbbb2222", instance="db-2", severity="warning"),
            _alert("firing", "cccc3333", instance="db-3", severity="bogus"),
        ],
    )
    assert (await client.post(path, json=firing)).status_code == 202
    [incident] = await incidents_of(api, service["id"])
    assert incident["severity"] == "error", "unknown severities count as error, the worst here"
    assert incident["title"] == "DiskFull (3 alerts)"
    assert len(incident["details"]["alerts"]) == 3
    resolved = _payload("resolved", [_alert("resolved", "aaaa1111", instance="db-1")])
    await sink.wait_count("/am-group", 1)
    answer = await client.post(path, json=resolved)
    assert answer.json()["events"][0]["outcome"] == "changed"
    assert (await incidents_of(api, service["id"]))[0]["status"] == "resolved"


async def test_malformed_payloads_get_400_naming_fields_and_write_nothing(
    api: Api, client: httpx.AsyncClient
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    path = f"/integrations/alertmanager/{key}"
    alerts: list[Any] = [{"status": "on fire", "labels": {"n": 1}}, "x"]
    bad = _payload("firing", alerts)
    response = await client.post(path, json=bad)
    assert response.status_code == 400
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert fields == ["alerts[0].status", "alerts[0].labels", "alerts[0].labels", "alerts[1]"]
    empty = await client.post(path, json={"status": "firing", "alerts": []})
    assert empty.status_code == 400
    assert empty.json()["error"]["details"][0]["field"] == "alerts"
    assert await incidents_of(api, service["id"]) == []
    unknown = await client.post("/integrations/alertmanager/nope", json=bad)
    assert unknown.status_code == 404
