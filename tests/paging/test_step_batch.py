"""Steps fired in batches: each incident climbs once, at its own due time, fenced by its state."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from app.models import Incident
from app.paging.due import CLAIM_GAP, RECHECK_AFTER, Batch, next_claim
from app.paging.wake import rearm_steps, step_wakeup, sweep_wakeup, wakeups, window_end
from tests.factories import Api
from tests.support import HttpSink, JobTracker

pytestmark = pytest.mark.usefixtures("worker")


async def _at_level_one(
    api: Api, jobs: JobTracker, sink: HttpSink, name: str, count: int
) -> list[str]:
    """`count` incidents that have paged level 1 of a two-level policy (10 minutes per level)."""
    first = await api.user(f"{name} one", webhook=sink.url(f"/{name}-1"))
    second = await api.user(f"{name} two", webhook=sink.url(f"/{name}-2"))
    policy = await api.policy([(600, [first["id"]]), (600, [second["id"]])], name=name)
    service = await api.service(policy["id"], name=name)
    ids = [(await api.trigger(service["id"], dedup_key=f"{name}-{n}"))["id"] for n in range(count)]
    for incident_id in ids:
        await jobs.step_applied(incident_id, 0)
    return ids


async def _due_at(app: Any, due: dict[str, datetime]) -> None:
    """Bring the level-1 timeouts forward to these instants and wake the steps for them."""
    async with app.state.sessions() as session, session.begin():
        for incident_id, at in due.items():
            await session.execute(
                update(Incident)
                .where(col(Incident.id) == uuid.UUID(incident_id))
                .values(next_due_at=at)
            )
    await app.state.enqueue([step_wakeup(at) for at in due.values()])


def _escalations(timeline: list[dict[str, Any]], level: int) -> list[dict[str, Any]]:
    return [e for e in timeline if e["type"] == "escalated" and e["details"]["level"] == level]


async def test_incidents_due_together_each_escalate_once_at_their_own_due_time(
    api: Api, jobs: JobTracker, app: Any, sink: HttpSink
) -> None:
    ids = await _at_level_one(api, jobs, sink, "together", 12)
    start = datetime.now(UTC) + timedelta(milliseconds=500)
    due = {incident_id: start + timedelta(milliseconds=3 * n) for n, incident_id in enumerate(ids)}
    await _due_at(app, due)

    for incident_id in ids:
        await jobs.step_applied(incident_id, 1)
    for incident_id, at in due.items():
        [entry] = _escalations(await api.timeline(incident_id), 2)
        # Entered at its own due time, whenever the batch ran; the next timer counts from it.
        assert datetime.fromisoformat(entry["at"]) == at
        assert entry["details"]["from_level"] == 1
        assert entry["details"]["pages"] == 1
        current = await api.get(f"/incidents/{incident_id}")
        assert current["escalation"]["level"] == 2
        next_due = datetime.fromisoformat(current["escalation"]["next_due_at"])
        assert next_due == at + timedelta(seconds=600)


async def test_an_incident_acknowledged_before_its_batch_runs_does_not_escalate(
    api: Api, jobs: JobTracker, app: Any, sink: HttpSink
) -> None:
    acked, other = await _at_level_one(api, jobs, sink, "ack-first", 2)
    at = datetime.now(UTC) + timedelta(milliseconds=800)
    await _due_at(app, {acked: at, other: at})
    await api.post(f"/incidents/{acked}/acknowledge", {}, status=200)

    await jobs.step_applied(other, 1)
    assert len(_escalations(await api.timeline(other), 2)) == 1
    assert _escalations(await api.timeline(acked), 2) == []
    current = await api.get(f"/incidents/{acked}")
    assert (current["escalation"]["level"], current["escalation"]["next_due_at"]) == (1, None)


async def test_a_step_whose_wake_up_was_lost_is_fired_by_the_sweeper(
    api: Api, jobs: JobTracker, app: Any, sink: HttpSink
) -> None:
    [incident_id] = await _at_level_one(api, jobs, sink, "lost", 1)
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            update(Incident)
            .where(col(Incident.id) == uuid.UUID(incident_id))
            .values(next_due_at=datetime.now(UTC) - timedelta(seconds=2))
        )
    # Nothing is enqueued: only the sweeper knows from PostgreSQL that the step is overdue.
    await jobs.step_applied(incident_id, 1)
    assert len(_escalations(await api.timeline(incident_id), 2)) == 1


def test_rearming_wakes_overdue_steps_at_once_and_later_ones_per_bucket() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    due = [
        now - timedelta(seconds=5),
        now - timedelta(seconds=1),
        now + timedelta(milliseconds=501),
        now + timedelta(milliseconds=503),
        now + timedelta(seconds=2),
    ]
    jobs = rearm_steps(due, now=now)
    assert [j.job_id for j in jobs] == [
        sweep_wakeup(now).job_id,
        step_wakeup(due[2]).job_id,
        step_wakeup(due[4]).job_id,
    ]
    assert jobs[0].defer_until is None
    assert rearm_steps(due[2:], now=now)[0].job_id == step_wakeup(due[2]).job_id
    assert rearm_steps([], now=now) == []


def test_one_wake_up_per_window_at_its_first_due_step() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    due = [start + timedelta(milliseconds=ms) for ms in (70, 5, 40, 130, 260, 299)]
    assert [j.job_id for j in wakeups(due)] == [
        step_wakeup(due[1]).job_id,
        step_wakeup(due[3]).job_id,
        step_wakeup(due[4]).job_id,
    ]
    assert window_end(due[1]) == start + timedelta(milliseconds=100)


def test_a_woken_job_claims_again_only_for_its_window() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    until = now + timedelta(milliseconds=80)

    def batch(*, full: bool = False, next_ms: int | None = None) -> Batch:
        next_due = None if next_ms is None else now + timedelta(milliseconds=next_ms)
        return Batch(full, next_due)

    assert next_claim(batch(full=True, next_ms=0), now=now, until=until) == now
    assert next_claim(batch(), now=now, until=until) is None
    # The window's next step: claimed when it comes due; a later one has its own wake-up.
    assert next_claim(batch(next_ms=60), now=now, until=until) == now + timedelta(milliseconds=60)
    # Steps coming due every few ms are claimed together.
    assert next_claim(batch(next_ms=25), now=now, until=until) == now + CLAIM_GAP
    assert next_claim(batch(next_ms=90), now=now, until=until) is None
    # A due step someone else held locked: looked at again shortly.
    assert next_claim(batch(next_ms=-5), now=now, until=until) == now + RECHECK_AFTER
