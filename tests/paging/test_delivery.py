"""Webhook delivery: transient failures retried, permanent ones not, every attempt recorded."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from app.config import Settings
from app.models import Notification
from app.notify.base import Outcome, Page
from app.notify.webhook import WebhookProvider
from app.paging.delivery import backoff_seconds
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


def _of(timeline: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in timeline if item["type"] == kind]


async def test_a_503_is_retried_until_the_page_gets_through(
    api: Api, sink: HttpSink, jobs: JobTracker, app: Any
) -> None:
    sink.script["/flaky"] = [503, 503]
    ada = await api.user("Ada", webhook=sink.url("/flaky"))
    pol = await api.policy([(600, [ada["id"]])], name="flaky")
    svc = await api.service(pol["id"])
    incident = await api.trigger(svc["id"])
    attempts = await sink.wait_count("/flaky", 3)
    assert len({a.headers["x-stairway-delivery"] for a in attempts}) == 1, "same idempotency key"
    async with app.state.sessions() as session:
        notification_id = await session.scalar(
            select(col(Notification.id)).where(col(Notification.incident_id) == incident["id"])
        )
    await jobs.page_settled(notification_id, attempts=2)
    timeline = await api.timeline(incident["id"])
    failed = _of(timeline, "notification_failed")
    assert [f["details"]["attempt"] for f in failed] == [1, 2]
    assert all(f["details"]["status_code"] == 503 and not f["details"]["final"] for f in failed)
    assert _of(timeline, "notified")[0]["details"]["attempt"] == 3


async def test_permanent_failure_of_every_target_moves_to_the_next_level_at_once(
    api: Api, sink: HttpSink
) -> None:
    sink.script["/gone"] = [410]
    ada = await api.user("Ada", webhook=sink.url("/gone"))
    bob = await api.user("Bob", webhook=sink.url("/next"))
    pol = await api.policy([(1800, [ada["id"]]), (600, [bob["id"]])], name="gone")
    svc = await api.service(pol["id"])
    incident = await api.trigger(svc["id"])
    [page] = await sink.wait_count("/next", 1)
    assert page.json()["level"] == 2
    assert len(sink.at("/gone")) == 1, "4xx is not retried"
    timeline = await api.timeline(incident["id"])
    [failed] = _of(timeline, "notification_failed")
    assert failed["details"]["final"] is True
    assert failed["details"]["status_code"] == 410
    assert _of(timeline, "level_failed")[0]["details"]["level"] == 1


def _page(address: str) -> Page:
    return Page(
        notification_id="n",
        idempotency_key="k",
        channel="webhook",
        address=address,
        attempt=1,
        incident={},
        level=1,
        loop=0,
        user=None,
        actions={},
        signing_secret="s",
    )


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SENT),
        (204, Outcome.SENT),
        (429, Outcome.TRANSIENT),
        (500, Outcome.TRANSIENT),
        (502, Outcome.TRANSIENT),
        (400, Outcome.PERMANENT),
        (404, Outcome.PERMANENT),
    ],
)
async def test_status_codes_map_to_outcomes(status: int, outcome: Outcome) -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, headers={"Retry-After": "7"})
    )
    async with httpx.AsyncClient(transport=transport) as client:
        result = await WebhookProvider(client).send(_page("http://sink.test/x"))
    assert result.outcome is outcome
    assert result.status_code == status
    assert result.retry_after_seconds == 7


async def test_timeouts_and_refused_connections_are_transient() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as client:
        result = await WebhookProvider(client).send(_page("http://sink.test/x"))
    assert result.outcome is Outcome.TRANSIENT
    async with httpx.AsyncClient() as client:
        result = await WebhookProvider(client).send(_page("http://127.0.0.1:9/closed"))
    assert result.outcome is Outcome.TRANSIENT


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after() -> None:
    settings = Settings(delivery_backoff_base_seconds=1, delivery_backoff_max_seconds=60)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (10, 60)]:
        delays = {backoff_seconds(attempt, settings, None) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1, "jittered"
    assert backoff_seconds(1, settings, 30) == 30
    assert backoff_seconds(1, settings, 3600) == 60
