"""PagerDuty Events API v2 compatibility, driven by PagerDuty's own Python client over HTTPS."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pagerduty import EventsApiV2Client
from pagerduty.errors import HttpError

from app.config import Settings
from app.integrations.inbox import oldest_queued
from app.main import create_app
from tests.factories import Api
from tests.integrations.conftest import LiveServer
from tests.integrations.helpers import (
    events_applied,
    incidents_of,
    integration_key,
    paged_service,
)
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def _client(live: LiveServer, key: str) -> EventsApiV2Client:
    return EventsApiV2Client(key, base_url=live.https_url, verify=live.ssl_context, trust_env=False)


async def test_trigger_acknowledge_resolve_through_the_official_client(
    api: Api, live: LiveServer, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    service = await paged_service(api, sink.url("/pd"))
    key = await integration_key(api, service["id"])
    with _client(live, key) as pd:
        await _walk_through(api, service, PagerDuty(pd, app, jobs), sink)


@dataclass
class PagerDuty:
    """The official client; each call returns once the worker has applied the event."""

    client: EventsApiV2Client
    app: Any
    jobs: JobTracker

    async def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = await asyncio.to_thread(getattr(self.client, method), *args, **kwargs)
        await events_applied(self.app, self.jobs)
        return result


async def _walk_through(api: Api, service: dict[str, Any], pd: PagerDuty, sink: HttpSink) -> None:
    dedup = await pd(
        "trigger",
        "Checkout p99 latency above 2s",
        "web-03.example.com",
        dedup_key="checkout-latency",
        severity="warning",
        payload={
            "component": "nginx",
            "group": "web",
            "class": "latency",
            "timestamp": "2026-11-22T10:00:00.000+0000",
        },
        custom_details={"p99_ms": 2400, "region": {"name": "eu-west-1"}},
        links=[{"href": "https://grafana.example.com/d/1", "text": "dashboard"}],
        images=[{"src": "https://grafana.example.com/render/1.png"}],
    )
    assert dedup == "checkout-latency"
    [page] = await sink.wait_count("/pd", 1)
    [incident] = await incidents_of(api, service["id"])
    assert page.json()["incident"]["id"] == incident["id"]
    assert incident["title"] == "Checkout p99 latency above 2s"
    assert (incident["severity"], incident["source"]) == ("warning", "web-03.example.com")
    assert incident["dedup_key"] == "checkout-latency"
    assert incident["details"] == {
        "component": "nginx",
        "group": "web",
        "class": "latency",
        "timestamp": "2026-11-22T10:00:00.000+0000",
        "custom_details": {"p99_ms": 2400, "region": {"name": "eu-west-1"}},
        "links": [{"href": "https://grafana.example.com/d/1", "text": "dashboard"}],
        "images": [{"src": "https://grafana.example.com/render/1.png"}],
    }
    timeline = await api.timeline(incident["id"])
    assert timeline[0]["actor"]["type"] == "integration"

    # The same dedup key adds to the open incident; nobody is paged again.
    await pd("trigger", "again", "web-03", dedup_key="checkout-latency")
    [same] = await incidents_of(api, service["id"])
    assert same["alert_count"] == 2

    assert await pd("acknowledge", "checkout-latency") == "checkout-latency"
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "acknowledged"
    await pd("resolve", "checkout-latency")
    resolved = await api.get(f"/incidents/{incident['id']}")
    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"]["type"] == "integration"

    # Nothing open with that key any more: acknowledge and resolve are accepted and dropped.
    await pd("acknowledge", "checkout-latency")
    await pd("resolve", "never-triggered")
    assert (await api.get(f"/incidents/{incident['id']}"))["status"] == "resolved"

    # A trigger after the resolve opens a new incident; one without a key gets a fresh key.
    await pd("trigger", "latency again", "web-03", dedup_key="checkout-latency")
    generated = await pd("trigger", "disk full", "db-1", severity="critical")
    assert len(generated) == 32
    listed = await incidents_of(api, service["id"])
    assert [(i["dedup_key"], i["status"]) for i in listed] == [
        ("checkout-latency", "resolved"),
        ("checkout-latency", "triggered"),
        (generated, "triggered"),
    ]
    await sink.wait_count("/pd", 3)

    await pd(
        "send_change_event",
        payload={
            "summary": "Deployed checkout v42",
            "source": "ci",
            "timestamp": "2026-11-22T10:00:00Z",
        },
        links=[{"href": "https://ci.example.com/42"}],
    )
    assert len(await incidents_of(api, service["id"])) == 3


async def test_an_unknown_routing_key_is_refused(api: Api, live: LiveServer) -> None:
    with _client(live, "0" * 32) as pd, pytest.raises(HttpError) as caught:
        await asyncio.to_thread(pd.trigger, "x", "y")
    assert caught.value.response is not None
    assert caught.value.response.status_code == 404
    assert caught.value.response.json()["status"] == "invalid event"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"event_action": "trigger", "payload": {"source": "a", "severity": "error"}},
            ["'payload.summary' is required"],
        ),
        (
            {
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "a", "severity": "fatal"},
            },
            ["'payload.severity' must be one of critical, error, warning, info"],
        ),
        (
            {"event_action": "explode"},
            ["'event_action' must be one of trigger, acknowledge, resolve"],
        ),
        ({"event_action": "resolve"}, ["'dedup_key' is required for resolve events"]),
        (
            {
                "event_action": "trigger",
                "dedup_key": "k" * 256,
                "payload": {"summary": "s", "source": "a", "severity": "info"},
            },
            ["'dedup_key' must be at most 255 characters"],
        ),
        (
            {
                "event_action": "trigger",
                "links": [{"text": "no href"}],
                "payload": {
                    "summary": "s",
                    "source": "a",
                    "severity": "info",
                    "custom_details": {"blob": "x" * 70000},
                },
            },
            ["'links[0].href' is required and must be a string"],
        ),
        (
            {
                "event_action": "trigger",
                "payload": {
                    "summary": "s",
                    "source": "a",
                    "severity": "info",
                    "custom_details": {"blob": "x" * 70000},
                },
            },
            ["'payload.custom_details' must be at most 65536 bytes of JSON"],
        ),
        (
            # 33 KB of UTF-8 in the request, 66 KB once stored as escaped JSON.
            {
                "event_action": "trigger",
                "payload": {
                    "summary": "s",
                    "source": "a",
                    "severity": "info",
                    "custom_details": {"blob": "\u20ac" * 11000},
                },
            },
            ["'payload.custom_details' must be at most 65536 bytes of JSON"],
        ),
    ],
)
async def test_invalid_events_get_pagerdutys_400_and_write_nothing(
    api: Api, client: httpx.AsyncClient, app: Any, event: dict[str, Any], expected: list[str]
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    response = await client.post("/v2/enqueue", json={"routing_key": key, **event})
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": expected,
    }
    async with app.state.sessions() as session:
        assert await oldest_queued(session) is None


async def test_malformed_bodies_and_keys_get_400(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/v2/enqueue", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["errors"][0].startswith("'body' not valid JSON")
    short = await client.post("/v2/enqueue", json={"routing_key": "abc", "event_action": "trigger"})
    assert short.status_code == 400
    assert short.json()["errors"] == ["'routing_key' length is incorrect (should be 32 characters)"]


async def test_a_body_over_512_kb_is_refused_with_413(client: httpx.AsyncClient) -> None:
    body = json.dumps({"routing_key": "0" * 32, "pad": "x" * (512 * 1024)})
    response = await client.post(
        "/v2/enqueue", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    fits = json.dumps(
        {
            "routing_key": "0" * 32,
            "event_action": "resolve",
            "dedup_key": "k",
            "pad": "x" * (300 * 1024),
        }
    )
    response = await client.post(
        "/v2/enqueue", content=fits, headers={"content-type": "application/json"}
    )
    assert response.status_code == 404, "over the API's 256 KiB, under the inbound 512 KB"


async def test_a_streamed_body_over_512_kb_is_refused_with_413(
    client: httpx.AsyncClient, app: Any
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"routing_key":"' + b"0" * 32 + b'","pad":"'
        for _ in range(64):
            yield b"x" * 16 * 1024  # no Content-Length: the size is counted as it arrives
        yield b'"}'

    response = await client.post(
        "/v2/enqueue", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    async with app.state.sessions() as session:
        assert await oldest_queued(session) is None


async def test_a_nul_character_is_refused_with_400_and_nothing_written(
    api: Api, client: httpx.AsyncClient, app: Any
) -> None:
    service = await paged_service(api, "http://127.0.0.1:9/unused")
    key = await integration_key(api, service["id"])
    event: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": "nul\u0000here", "source": "a", "severity": "info"},
    }
    response = await client.post("/v2/enqueue", json=event)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'payload.summary' must not contain NUL characters (\\u0000)"
    ]
    async with app.state.sessions() as session:
        assert await oldest_queued(session) is None
    event["payload"]["summary"] = "a path with the text \\u0000 in it"  # no NUL: accepted
    assert (await client.post("/v2/enqueue", json=event)).status_code == 202


@pytest.fixture
async def throttled(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process on the same database and Redis with a tiny per-key budget."""
    tight = settings.model_copy(update={"ingest_rate_per_second": 0.01, "ingest_burst": 2})
    application = create_app(tight)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://stairway.test") as c:
            yield c


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    api: Api, throttled: httpx.AsyncClient, sink: HttpSink, app: Any, jobs: JobTracker
) -> None:
    service = await paged_service(api, sink.url("/throttle"))
    key = await integration_key(api, service["id"])
    other = await integration_key(api, service["id"])
    event = {
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "a", "severity": "info"},
    }
    answers = [
        await throttled.post("/v2/enqueue", json={"routing_key": key, **event}) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["status"] == "throttle event"
    assert 1 <= int(answers[2].headers["retry-after"]) <= 100
    await events_applied(app, jobs)
    assert len(await incidents_of(api, service["id"])) == 2
    # Buckets are per key: another key of the same service is unaffected.
    fresh = await throttled.post("/v2/enqueue", json={"routing_key": other, **event})
    assert fresh.status_code == 202
    webhook = await throttled.post(
        f"/integrations/alertmanager/{key}", json={"status": "firing", "alerts": []}
    )
    assert webhook.status_code == 429
    assert webhook.json()["error"]["code"] == "rate_limited"
    assert "retry-after" in webhook.headers
