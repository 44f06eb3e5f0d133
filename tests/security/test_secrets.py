"""Secrets are shown once at creation and then appear nowhere: not in logs, timelines or reads."""

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.logs import RedactSecretPaths
from tests.factories import Api
from tests.provider_support import MailSink
from tests.support import HttpSink


class Capture(logging.Handler):
    """Every record, message and extra fields alike, as text."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r} {record.exc_text or ''}")


@pytest.fixture
def captured() -> Iterator[Capture]:
    root = logging.getLogger()
    handler = Capture()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def _leaks(secrets: dict[str, str], text: str) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


async def test_secrets_never_reach_logs_timelines_or_reads(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    worker: Any,
    sink: HttpSink,
    smtp: MailSink,
    settings: Settings,
    captured: Capture,
) -> None:
    api = Api(client, admin_headers)
    user = await api.user("Ada Lovelace", webhook=sink.url("/secrets/page"))
    email = await api.post(
        f"/users/{user['id']}/contact-methods", {"type": "email", "address": "ada@example.com"}
    )
    await api.post(f"/users/{user['id']}/contact-methods/{email['id']}/mark-verified", {}, 200)
    for method in (user["contact_method"], email):
        await api.post(
            f"/users/{user['id']}/notification-rules",
            {"contact_method_id": method["id"], "delay_seconds": 0},
        )
    api_key = await api.post(f"/users/{user['id']}/api-keys", {"name": "laptop"})
    policy = await api.policy([(600, [user["id"]])])
    service = await api.service(policy["id"])
    integration = await api.post(f"/services/{service['id']}/integration-keys", {"name": "prom"})
    subscription = await api.post("/webhook-subscriptions", {"url": sink.url("/secrets/events")})
    secrets = {
        "admin key": admin_headers["Authorization"].removeprefix("Bearer "),
        "user API key": api_key["key"],
        "integration key": integration["key"],
        "contact signing secret": user["contact_method"]["signing_secret"],
        "subscription secret": subscription["secret"],
        "smtp password": settings.smtp_password.get_secret_value(),
        "twilio token": settings.twilio_auth_token.get_secret_value(),
        "slack signing secret": settings.slack_signing_secret.get_secret_value(),
    }
    assert all(len(value) >= 16 for value in secrets.values())

    response = await client.post(
        "/api/v1/incidents",
        json={"title": "disk full", "severity": "critical"},
        headers={"Authorization": f"Bearer {integration['key']}"},
    )
    assert response.status_code == 201, response.text
    incident = response.json()
    pages = await sink.wait_count("/secrets/page", 1)
    await smtp.wait_for("ada@example.com")
    events = await sink.wait_count("/secrets/events", 1)
    ack = await client.post(
        f"/api/v1/incidents/{incident['id']}/acknowledge",
        headers={"Authorization": f"Bearer {api_key['key']}"},
    )
    assert ack.status_code == 200
    await client.get("/api/v1/users", headers={"Authorization": "Bearer sw_wrong"})

    reads = [
        f"/users/{user['id']}/contact-methods",
        f"/users/{user['id']}/api-keys",
        f"/services/{service['id']}/integration-keys",
        "/webhook-subscriptions",
        f"/webhook-subscriptions/{subscription['id']}",
        f"/webhook-subscriptions/{subscription['id']}/deliveries",
        f"/incidents/{incident['id']}",
        f"/incidents/{incident['id']}/timeline",
        "/audit",
    ]
    for path in reads:
        response = await client.get(f"/api/v1{path}", headers=admin_headers)
        assert response.status_code == 200, path
        assert _leaks(secrets, response.text) == [], path
    delivered = "".join(r.body.decode() for r in [*pages, *events])
    assert _leaks(secrets, delivered) == []
    log_text = "\n".join(captured.lines)
    assert len(captured.lines) > 10, "the capture saw no logging at all"
    assert _leaks(secrets, log_text) == []


def test_access_log_lines_mask_keys_and_tokens_in_paths() -> None:
    secret = "0123456789abcdef0123456789abcdef"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/integrations/grafana/{secret}?x=1", "1.1", 202),
        None,
    )
    link = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, f"GET /r/{secret}", None, None
    )
    for item in (record, link):
        assert RedactSecretPaths().filter(item)
        assert secret not in item.getMessage()
        assert "[redacted]" in item.getMessage()
