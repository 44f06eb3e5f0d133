"""Hostile input on every inbound route and every write route family: a 4xx naming the problem,
never a 5xx, and nothing written.

Each valid body below is posted with one of its values at a time replaced by something hostile
(NUL, a lone surrogate, a huge string, the wrong type, NaN/Infinity/1e309, nesting 300 and
10,000 deep) and as a whole replaced by non-JSON, invalid UTF-8 and the wrong shape.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.config import Settings
from app.jsonsafe import MAX_JSON_DEPTH
from app.main import create_app
from app.models import metadata
from app.responders.slack import slack_signature
from app.security import make_token
from tests.factories import Api
from tests.security.world import build_world

DEEP = "[" * 10_000 + "]" * 10_000
NESTED_300 = '{"a":' * 300 + "1" + "}" * 300
HOSTILE_TEXT = ['"a\\u0000b"', '"\\ud800"', '"' + "x" * 100_000 + '"']
HOSTILE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309"]
WHOLE_BODIES = [b'{"title": ', b"\xff\xfe{}", b"[]", b"null", b'"x"', DEEP.encode(), b""]
TABLES = [t.name for t in metadata.sorted_tables]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _leaves(child, (*path, i))
    if path:
        yield path, value


def _replaced(body: Any, path: tuple[Any, ...], fragment: str) -> bytes:
    """`body` as JSON text with the value at `path` replaced by the JSON text `fragment`."""
    marker = f"@@{uuid.uuid4().hex}@@"
    copy = json.loads(json.dumps(body))
    where = copy
    for part in path[:-1]:
        where = where[part]
    where[path[-1]] = marker
    return json.dumps(copy).replace(f'"{marker}"', fragment).encode()


def _wrong_type(value: Any) -> str:
    if isinstance(value, str):
        return "[1]"
    if isinstance(value, dict | list):
        return '"many"' if value else "17"
    return '"many"'


# Values whose type is the sender's to choose (kept as they come); every other rule holds there.
FREE_FORM = {"custom_details", "details", "values"}


def variants(body: Any) -> Iterator[tuple[str, bytes]]:
    """(what, raw body) for each hostile version of `body`."""
    for raw in WHOLE_BODIES:
        yield f"whole body {raw[:12]!r}", raw
    for path, value in _leaves(body):
        name = ".".join(str(p) for p in path)
        typed = not FREE_FORM & set(path)
        wrong = [_wrong_type(value)] if typed else []
        fragments = [*HOSTILE_TEXT, *HOSTILE_NUMBERS, *wrong, NESTED_300, DEEP]
        for fragment in fragments:
            yield f"{name} = {fragment[:16]}", _replaced(body, path, fragment)


# A row as text, without the time a key was last used (any authenticated request sets it).
_ROW = "(to_jsonb(x) - 'last_used_at')::text"


async def _fingerprint(app: Any) -> dict[str, str]:
    """Every table's rows, hashed."""
    prints = {}
    async with app.state.engine.connect() as conn:
        for table in TABLES:
            query = (
                f"SELECT md5(coalesce(string_agg({_ROW}, '|' ORDER BY {_ROW}), '')) FROM {table} x"
            )
            prints[table] = (await conn.execute(text(query))).scalar_one()
    return prints


def _names_the_problem(response: httpx.Response) -> bool:
    if response.status_code in (401, 403, 404, 409, 413):
        return True
    body = response.json()
    if "errors" in body:  # PagerDuty's shape
        return bool(body["errors"])
    details = body["error"]["details"]
    return bool(details) and all(d.get("field") for d in details)


async def _post_all(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: Any,
    headers: dict[str, str],
    *,
    empty_ok: bool = False,
) -> list[str]:
    """The problems found posting every variant of `body` (`empty_ok`: an empty body is a valid
    request there, so it is not posted)."""
    problems = []
    for what, raw in variants(body):
        if empty_ok and not raw:
            continue
        response = await client.request(
            method, url, content=raw, headers={**headers, "content-type": "application/json"}
        )
        if response.status_code >= 500 or response.status_code < 400:
            problems.append(
                f"{method} {url} [{what}]: {response.status_code} {response.text[:200]}"
            )
        elif not _names_the_problem(response):
            problems.append(f"{method} {url} [{what}]: no field named: {response.text[:200]}")
    return problems


@pytest.fixture
async def hostile(app: Any, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an API process without the per-key ingest rate limit (every variant is
    read, none refused with a 429), answering errors (500) rather than raising them."""
    unlimited = create_app(settings.model_copy(update={"ingest_rate_per_second": 0.0}))
    async with unlimited.router.lifespan_context(unlimited):
        transport = httpx.ASGITransport(app=unlimited, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://stairway.test") as c:
            yield c


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _alertmanager(**extra: Any) -> dict[str, Any]:
    return {
        "status": "firing",
        "receiver": "stairway",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
        "commonAnnotations": {"summary": "disk full"},
        "externalURL": "http://alertmanager.example.com",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db-1"},
                "annotations": {"summary": "disk full on db-1"},
                "startsAt": "2026-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph",
                "fingerprint": "abc123",
                **extra,
            }
        ],
    }


async def _quiet_world(api: Api) -> dict[str, str]:
    """One of each object the write routes act on, with nothing left for a worker to change
    meanwhile: the incident opens in a maintenance window (nobody is paged) and the webhook
    subscription is made after it (no event to deliver)."""
    user = await api.user("Sam Subject", webhook="https://hooks.example.com/sam", rules=[0])
    now = datetime.now(UTC)
    schedule = await api.post("/schedules", {"name": "primary", "time_zone": "UTC"})
    policy = await api.policy([(300, [user["id"]])])
    service = await api.service(policy["id"], name="quiet")
    window = {
        "starts_at": _iso(now - timedelta(minutes=1)),
        "ends_at": _iso(now + timedelta(days=1)),
    }
    await api.post(f"/services/{service['id']}/maintenance-windows", window)
    incident = await api.trigger(service["id"])
    subscription = await api.post(
        "/webhook-subscriptions", {"url": "https://hooks.example.com/stairway"}
    )
    heartbeat = await api.post(
        "/heartbeats", {"service_id": service["id"], "name": "backup", "interval_seconds": 3600}
    )
    return {
        "users": user["id"],
        "contact-methods": user["contact_method"]["id"],
        "schedules": schedule["id"],
        "escalation-policies": policy["id"],
        "services": service["id"],
        "incidents": incident["id"],
        "webhook-subscriptions": subscription["id"],
        "heartbeats": heartbeat["id"],
    }


async def test_hostile_bodies_on_every_inbound_and_write_route_are_4xx_and_write_nothing(
    api: Api, app: Any, hostile: httpx.AsyncClient
) -> None:
    ids = await _quiet_world(api)
    admin = api.headers
    key = (await api.post(f"/services/{ids['services']}/integration-keys", {"name": "hostile"}))[
        "key"
    ]
    now = datetime.now(UTC)
    pd_trigger = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk",
        "payload": {
            "summary": "disk full",
            "source": "db-1",
            "severity": "critical",
            "custom_details": {"free": {"bytes": 1}},
        },
        "links": [{"href": "https://example.com", "text": "runbook"}],
    }
    inbound: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v2/enqueue", pd_trigger),
        ("POST", "/v2/change/enqueue", {"routing_key": key, "payload": {"summary": "deploy"}}),
        ("POST", f"/integrations/alertmanager/{key}", _alertmanager()),
        (
            "POST",
            f"/integrations/grafana/{key}",
            {
                **_alertmanager(values={"B": 1.5}, valueString="[ var='B' value=1.5 ]"),
                "title": "[FIRING:1] DiskFull",
                "message": "disk full",
                "orgId": 1,
            },
        ),
    ]
    genie = {"Authorization": f"GenieKey {key}"}
    opsgenie_alert = {
        "message": "disk full",
        "alias": "disk",
        "description": "free space under 1%",
        "responders": [{"name": "storage", "type": "team"}],
        "visibleTo": [{"username": "ada@example.com", "type": "user"}],
        "actions": ["restart"],
        "tags": ["disk", "db"],
        "details": {"host": "db-1"},
        "entity": "db-1",
        "source": "nagios",
        "priority": "P2",
        "user": "ada",
        "note": "first seen",
    }
    alert_action = {"user": "ada", "source": "nagios", "note": "looking"}
    opsgenie: list[tuple[str, str, dict[str, Any], bool]] = [
        ("POST", "/v2/alerts", opsgenie_alert, False),
        ("POST", f"/v2/alerts/{ids['incidents']}/notes", {"note": "n", "user": "ada"}, False),
        ("POST", "/v2/alerts/disk/acknowledge?identifierType=alias", alert_action, True),
        ("POST", "/v2/alerts/disk/close?identifierType=alias", alert_action, True),
    ]
    v1 = "/api/v1"
    service, user, incident = ids["services"], ids["users"], ids["incidents"]
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/users", {"name": "Hana", "email": "hana@example.com", "time_zone": "UTC"}),
        ("PATCH", f"/users/{user}", {"name": "Sam", "slack_user_id": "U1"}),
        (
            "POST",
            f"/users/{user}/contact-methods",
            {"type": "webhook", "address": "https://hooks.example.com/x", "label": "x"},
        ),
        (
            "POST",
            f"/users/{user}/notification-rules",
            {"contact_method_id": ids["contact-methods"], "delay_seconds": 60},
        ),
        ("POST", f"/users/{user}/api-keys", {"name": "ci"}),
        ("POST", "/schedules", {"name": "s", "time_zone": "UTC", "description": "d"}),
        ("PATCH", f"/schedules/{ids['schedules']}", {"name": "s2"}),
        (
            "POST",
            f"/schedules/{ids['schedules']}/overrides",
            {"user_id": user, "start": _iso(now), "end": _iso(now + timedelta(hours=1))},
        ),
        (
            "POST",
            "/escalation-policies",
            {
                "name": "p",
                "repeat": 1,
                "levels": [
                    {"escalate_after_seconds": 60, "targets": [{"type": "user", "id": user}]}
                ],
            },
        ),
        ("PATCH", f"/escalation-policies/{ids['escalation-policies']}", {"name": "p2"}),
        ("POST", "/services", {"name": "svc", "escalation_policy_id": ids["escalation-policies"]}),
        ("PATCH", f"/services/{service}", {"description": "d"}),
        ("POST", f"/services/{service}/integration-keys", {"name": "k"}),
        (
            "PUT",
            f"/services/{service}/routing-rules",
            {
                "rules": [
                    {
                        "name": "r",
                        "conditions": [{"field": "labels.env", "op": "equals", "value": "prod"}],
                        "urgency": "low",
                    }
                ]
            },
        ),
        (
            "POST",
            f"/services/{service}/maintenance-windows",
            {
                "starts_at": _iso(now + timedelta(days=3)),
                "ends_at": _iso(now + timedelta(days=4)),
                "description": "d",
            },
        ),
        (
            "POST",
            "/incidents",
            {
                "service_id": service,
                "title": "t",
                "dedup_key": "hostile",
                "details": {"a": {"b": [1, "x"]}},
            },
        ),
        ("POST", f"/incidents/{incident}/notes", {"text": "n"}),
        ("POST", f"/incidents/{incident}/snooze", {"duration_seconds": 60}),
        ("POST", f"/incidents/{incident}/escalate", {"level": 1}),
        ("POST", f"/incidents/{incident}/reassign", {"user_id": user}),
        (
            "POST",
            "/webhook-subscriptions",
            {"url": "https://hooks.example.com/e", "description": "d"},
        ),
        ("PATCH", f"/webhook-subscriptions/{ids['webhook-subscriptions']}", {"description": "d"}),
        ("POST", "/heartbeats", {"service_id": service, "name": "hb", "interval_seconds": 60}),
        ("PATCH", f"/heartbeats/{ids['heartbeats']}", {"interval_seconds": 120}),
    ]
    before = await _fingerprint(app)
    problems: list[str] = []
    for method, url, body in inbound:
        problems += await _post_all(hostile, method, url, body, {})
    for method, url, body, empty_ok in opsgenie:
        problems += await _post_all(hostile, method, url, body, genie, empty_ok=empty_ok)
    for method, url, body in writes:
        problems += await _post_all(hostile, method, v1 + url, body, admin)
    after = await _fingerprint(app)
    changed = [table for table in TABLES if before[table] != after[table]]
    assert problems == [], "\n".join(problems)
    assert changed == []
    # What was stored stays readable by everyone.
    listed = await hostile.get(f"{v1}/incidents", headers=admin)
    assert listed.status_code == 200


async def test_the_depth_limit_is_named_in_the_answer(
    api: Api, app: Any, hostile: httpx.AsyncClient
) -> None:
    world = await build_world(api)
    too_deep: Any = 1
    for _ in range(MAX_JSON_DEPTH):
        too_deep = {"a": too_deep}
    response = await hostile.post(
        "/api/v1/incidents",
        json={"service_id": world.ids["services"], "title": "t", "details": too_deep},
        headers=api.headers,
    )
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["field"].startswith("details.a.a")
    assert detail["message"] == f"nests deeper than {MAX_JSON_DEPTH} levels"
    # One level less is within the limit, and reads back.
    response = await hostile.post(
        "/api/v1/incidents",
        json={"service_id": world.ids["services"], "title": "t", "details": too_deep["a"]},
        headers=api.headers,
    )
    assert response.status_code == 201, response.text
    read = await hostile.get(f"/api/v1/incidents/{response.json()['id']}", headers=api.headers)
    assert read.json()["details"] == too_deep["a"]


async def test_malformed_json_names_the_body_not_a_character_offset(
    api: Api, hostile: httpx.AsyncClient
) -> None:
    response = await hostile.post(
        "/api/v1/users",
        content=b'{"name": "Ada", "email": ',
        headers={**api.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "body"
    assert detail["message"].startswith("not valid JSON")


@pytest.mark.parametrize(
    "truncated", ["NaN", "Infinity", "-Infinity", "1e309", '"many"', "[1]", "-1"]
)
async def test_alertmanager_truncated_alerts_must_be_a_count(
    api: Api, hostile: httpx.AsyncClient, truncated: str
) -> None:
    world = await build_world(api)
    key = (await api.post(f"/services/{world.ids['services']}/integration-keys", {"name": "am"}))[
        "key"
    ]
    for route in ("alertmanager", "grafana"):
        raw = _replaced(_alertmanager(), ("truncatedAlerts",), truncated)
        response = await hostile.post(
            f"/integrations/{route}/{key}",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        [detail] = response.json()["error"]["details"]
        assert detail["field"] == "truncatedAlerts"


async def test_a_slack_timestamp_of_320_digits_is_refused_as_stale(
    settings: Settings, hostile: httpx.AsyncClient
) -> None:
    secret = settings.slack_signing_secret.get_secret_value()
    assert secret
    body = b"payload=%7B%7D"
    stamp = "9" * 320
    response = await hostile.post(
        "/integrations/slack/actions",
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(secret, stamp, body),
        },
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": "soon"},
        {"exp": [1]},
        {"exp": None},
        {"i": "not-a-uuid"},
        {"i": 42},
        {"u": ["x"]},
        {"a": {"x": 1}},
    ],
)
async def test_signed_action_links_with_wrongly_typed_claims_are_invalid_links(
    app: Any, hostile: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    good = {
        "i": str(uuid.uuid4()),
        "u": None,
        "a": "acknowledge",
        "exp": int(time.time()) + 600,
        "n": "0",
    }
    token = make_token(app.state.link_secret, {**good, **claims})
    for method in ("GET", "POST"):
        response = await hostile.request(method, f"/r/{token}")
        assert response.status_code == 400, response.text
        assert "Link invalid" in response.text
