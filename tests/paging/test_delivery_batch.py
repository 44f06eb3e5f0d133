"""Batch delivery: one batch re-checks every page under its incident's lock, sends them at once,
and settles each on its own (one acknowledged incident or one failing destination holds back
nothing else)."""

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlmodel import col

from app.config import Settings
from app.models import Incident, Notification, User, utcnow
from app.notify.registry import build_providers, make_http_client
from app.paging.delivery import Delivered, DeliveryContext, deliver_batch, delivery_wakeup
from app.queue import JobSpec, take_jobs
from tests.factories import Api
from tests.support import HttpSink


@pytest.fixture
async def delivery(settings: Settings) -> AsyncIterator[DeliveryContext]:
    client = make_http_client(settings)
    context = DeliveryContext(build_providers(client, settings), settings, "link-secret")
    yield context
    await client.aclose()


async def _incidents(api: Api, app: Any, count: int) -> list[dict[str, Any]]:
    """Open incidents whose policy pages nobody by itself (the test writes their pages).

    Their escalation is stopped, so the worker of a test that runs one never holds one of them
    locked for a step while the test's batch claims its pages.
    """
    quiet = await api.user("Quiet")
    policy = await api.policy([(600, [quiet["id"]])], name="batch")
    service = await api.service(policy["id"])
    opened = [await api.trigger(service["id"], dedup_key=f"batch-{i}") for i in range(count)]
    ids = [uuid.UUID(i["id"]) for i in opened]
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(Incident).where(col(Incident.id).in_(ids)).values(next_due_at=None)
        )
    return opened


async def _pages(
    app: Any,
    incidents: list[dict[str, Any]],
    paths: list[str],
    sink: HttpSink,
    *,
    due_at: datetime,
    created_at: datetime,
) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in incidents]
    async with app.state.sessions() as session:
        quiet = await session.scalar(
            select(col(User.id)).where(col(User.email) == "quiet@example.com")
        )
    rows = [
        {
            "id": page_id,
            "incident_id": uuid.UUID(incident["id"]),
            "level": 1,
            "loop": 0,
            "condition": "unacknowledged",
            "target_type": "user",
            "user_id": quiet,
            "channel": "webhook",
            "address": sink.url(path),
            "idempotency_key": f"batch-test:{page_id}",
            "status": "pending",
            "due_at": due_at,
            "attempts": 0,
            "created_at": created_at,
        }
        for page_id, incident, path in zip(ids, incidents, paths, strict=True)
    ]
    async with app.state.sessions() as session, session.begin():
        await session.execute(insert(Notification), rows)
    return ids


async def _deliver(
    app: Any, ctx: DeliveryContext, now: datetime
) -> tuple[Delivered, list[JobSpec]]:
    async with app.state.sessions() as session:
        async with session.begin():
            delivered = await deliver_batch(session=session, now=now, ctx=ctx)
        return delivered, take_jobs(session)


def _ahead() -> datetime:
    """An instant an hour ahead: pages due then are claimed only by a batch run as of then,
    never first by the worker of a test that runs one."""
    return utcnow() + timedelta(hours=1)


async def _rows(app: Any, ids: list[uuid.UUID]) -> list[Notification]:
    async with app.state.sessions() as session:
        found = {
            n.id: n
            for n in await session.scalars(
                select(Notification).where(col(Notification.id).in_(ids))
            )
        }
    return [found[i] for i in ids]


async def test_an_acknowledged_incident_in_a_batch_is_skipped_and_the_others_are_paged(
    api: Api, app: Any, sink: HttpSink, delivery: DeliveryContext
) -> None:
    first, acked, third = await _incidents(api, app, 3)
    decided = utcnow()
    # Decided before the ack, still pending: the ack raced the deliverer's claim.
    await api.post(f"/incidents/{acked['id']}/acknowledge", {}, status=200)
    ids = await _pages(
        app,
        [first, acked, third],
        ["/b-first", "/b-acked", "/b-third"],
        sink,
        due_at=_ahead(),
        created_at=decided,
    )
    delivered, _ = await _deliver(app, delivery, _ahead())
    assert delivered.pages == 3
    assert [r.status for r in await _rows(app, ids)] == ["sent", "cancelled", "sent"]
    assert sink.at("/b-acked") == []
    [page] = sink.at("/b-first")
    # The page carries the incident exactly as the API shows it.
    assert page.json()["incident"] == await api.get(f"/incidents/{first['id']}")
    assert page.headers["x-stairway-delivery"] == f"batch-test:{ids[0]}"
    assert len(sink.at("/b-third")) == 1
    [cancelled] = [
        item for item in await api.timeline(acked["id"]) if item["type"] == "notification_cancelled"
    ]
    assert cancelled["details"]["reason"] == "incident acknowledged"


async def test_a_503_on_one_page_retries_it_without_holding_back_the_rest(
    api: Api, app: Any, sink: HttpSink, delivery: DeliveryContext
) -> None:
    sink.script["/b-flaky"] = [503]
    incidents = await _incidents(api, app, 3)
    now = _ahead()
    ids = await _pages(
        app, incidents, ["/b-ok-1", "/b-flaky", "/b-ok-2"], sink, due_at=now, created_at=now
    )
    _, wakeups = await _deliver(app, delivery, now)
    ok_1, flaky, ok_2 = await _rows(app, ids)
    assert (ok_1.status, ok_2.status) == ("sent", "sent")
    assert (flaky.status, flaky.attempts) == ("pending", 1)
    assert (flaky.last_error or "").startswith("HTTP 503")
    assert flaky.due_at > now
    assert delivery_wakeup(flaky.due_at) in wakeups, "the deliverer is woken for the retry"

    await _deliver(app, delivery, flaky.due_at)
    [flaky] = await _rows(app, [ids[1]])
    assert (flaky.status, flaky.attempts) == ("sent", 2)
    attempts = [
        (item["type"], item["details"].get("attempt"), item["details"].get("final"))
        for item in await api.timeline(incidents[1]["id"])
        if item["type"] in ("notified", "notification_failed")
    ]
    assert attempts == [("notification_failed", 1, False), ("notified", 2, None)]
    assert len(sink.at("/b-flaky")) == 2


async def test_a_hanging_destination_times_out_and_the_batch_still_settles(
    api: Api,
    app: Any,
    sink: HttpSink,
    delivery: DeliveryContext,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Longer than the delivery timeout, short enough not to hold up the sink's shutdown.
    monkeypatch.setattr(sink, "hang_seconds", settings.delivery_timeout_seconds + 1)
    sink.hang.add("/b-hang")
    incidents = await _incidents(api, app, 2)
    now = _ahead()
    ids = await _pages(app, incidents, ["/b-hang", "/b-fine"], sink, due_at=now, created_at=now)
    started = time.monotonic()
    await _deliver(app, delivery, now)
    # The incidents were share-locked (holding back any ack) for at most the delivery timeout.
    assert time.monotonic() - started < settings.delivery_timeout_seconds + 1

    # No worker runs in this test: the batch above settled both pages itself.
    hung, fine = await _rows(app, ids)
    assert fine.status == "sent"
    assert (hung.status, hung.attempts) == ("pending", 1)  # to be retried with backoff
    assert hung.last_error == "timed out"


async def test_pages_not_yet_due_are_left_for_their_own_wake_up(
    api: Api, app: Any, sink: HttpSink, delivery: DeliveryContext
) -> None:
    incidents = await _incidents(api, app, 1)
    now = utcnow()
    ids = await _pages(
        app, incidents, ["/b-later"], sink, due_at=now + timedelta(seconds=30), created_at=now
    )
    delivered, _ = await _deliver(app, delivery, now)
    assert delivered.pages == 0
    assert [r.status for r in await _rows(app, ids)] == ["pending"]
    assert sink.at("/b-later") == []


async def test_a_page_whose_incident_is_locked_is_skipped_not_waited_for(
    api: Api, app: Any, sink: HttpSink, delivery: DeliveryContext
) -> None:
    [incident] = await _incidents(api, app, 1)
    now = _ahead()
    [page_id] = await _pages(app, [incident], ["/b-locked"], sink, due_at=now, created_at=now)
    async with app.state.sessions() as other, other.begin():
        # Someone is changing the incident (as an acknowledgement does, FOR UPDATE).
        await other.execute(
            select(Incident).where(col(Incident.id) == uuid.UUID(incident["id"])).with_for_update()
        )
        delivered, _ = await _deliver(app, delivery, now)
        assert (delivered.pages, delivered.busy) == (0, True), "skipped, to be claimed again"
        assert sink.at("/b-locked") == []
    delivered, _ = await _deliver(app, delivery, now)
    assert delivered.pages == 1
    assert [r.status for r in await _rows(app, [page_id])] == ["sent"]


async def test_a_page_whose_user_was_deleted_after_it_was_decided_is_cancelled_unsent(
    api: Api, app: Any, sink: HttpSink, delivery: DeliveryContext
) -> None:
    # A step wrote the page for a user who was deleted before it was due (the delete's own
    # cancel did not see it): the user is gone, and nobody may act on the page's links.
    [incident] = await _incidents(api, app, 1)
    now = _ahead()
    [page_id] = await _pages(app, [incident], ["/b-orphan"], sink, due_at=now, created_at=utcnow())
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(Notification).where(col(Notification.id) == page_id).values(user_id=None)
        )
    delivered, _ = await _deliver(app, delivery, now)
    assert delivered.pages == 1
    assert [r.status for r in await _rows(app, [page_id])] == ["cancelled"]
    assert sink.at("/b-orphan") == []
    [cancelled] = [
        e for e in await api.timeline(incident["id"]) if e["type"] == "notification_cancelled"
    ]
    assert cancelled["details"]["reason"] == "user deleted"
