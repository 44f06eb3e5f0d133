"""Faults on real processes: killed workers, several workers, Redis lost, PostgreSQL down, races."""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.faults.harness import PrivatePostgres, PrivateRedis, Stairway, eventually
from tests.faults.scenario import Storm
from tests.support import HttpSink


@pytest.fixture
async def stairway(
    database_url: str, servers: tuple[str, str], tmp_path: Path, app: Any
) -> AsyncIterator[Stairway]:
    """API + workers as real processes on the test database (tables emptied per test)."""
    processes = Stairway(database_url=database_url, redis_url=servers[1], workdir=tmp_path)
    yield processes
    processes.stop_all()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_a_worker_killed_mid_storm_loses_nothing(stairway: Stairway, sink: HttpSink) -> None:
    await stairway.start_api()
    first = stairway.start_worker()
    storm = Storm(stairway, sink, "killed")
    await storm.setup()
    await storm.trigger(40)
    await sink.wait_for(lambda: len(storm.keys()) >= 40, 90)
    first.kill()
    stairway.start_worker()
    await storm.wait_all_paged()
    await storm.wait_all_exhausted()
    storm.assert_each_level_paged_once_per_incident()


async def test_three_workers_side_by_side_never_page_twice(
    stairway: Stairway, sink: HttpSink
) -> None:
    await stairway.start_api()
    for _ in range(3):
        stairway.start_worker()
    storm = Storm(stairway, sink, "three")
    await storm.setup()
    await storm.trigger(60)
    await storm.wait_all_paged()
    await storm.wait_all_exhausted()
    storm.assert_each_level_paged_once_per_incident()
    assert max(storm.keys().values()) == 1, "no page was delivered twice"


async def test_redis_flushed_and_restarted_mid_escalation_loses_nothing(
    database_url: str, private_redis: PrivateRedis, tmp_path: Path, sink: HttpSink, app: Any
) -> None:
    stairway = Stairway(database_url=database_url, redis_url=private_redis.url, workdir=tmp_path)
    try:
        await stairway.start_api()
        stairway.start_worker()
        storm = Storm(stairway, sink, "flushed")
        await storm.setup(escalate_after_seconds=2)
        await storm.trigger(30)
        await sink.wait_for(lambda: len(storm.keys()) >= 30, 90)
        redis.Redis(port=private_redis.port).flushall()
        await sink.wait_for(lambda: len(storm.keys()) >= 60, 90)
        private_redis.stop()
        private_redis.start()
        await storm.wait_all_paged()
        await storm.wait_all_exhausted()
        storm.assert_each_level_paged_once_per_incident()
    finally:
        stairway.stop_all()


async def test_postgres_down_answers_503_and_recovers_without_loss(
    tmp_path: Path, servers: tuple[str, str], sink: HttpSink
) -> None:
    postgres = PrivatePostgres()
    postgres.init()
    postgres.start()
    stairway = Stairway(database_url=postgres.url, redis_url=servers[1], workdir=tmp_path)
    try:
        stairway.migrate()
        await stairway.start_api()
        stairway.start_worker()
        storm = Storm(stairway, sink, "pgdown")
        await storm.setup(escalate_after_seconds=2)
        await storm.trigger(10)
        await sink.wait_for(lambda: len(storm.keys()) >= 10, 90)
        routing_key = await storm.integration_key()
        event = {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": "after-outage",
            "payload": {"summary": "queued alert", "source": "pg", "severity": "critical"},
        }

        postgres.stop()
        async with storm.client() as c:
            queued = await c.post("/v2/enqueue", json=event)
            assert queued.status_code == 503
            assert queued.headers["retry-after"]
            refused = await c.post(
                "/api/v1/incidents", json={"service_id": storm.service_id, "title": "during outage"}
            )
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            assert refused.json()["error"]["code"] == "unavailable"
            ready = await c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("unavailable")
            assert (await c.get("/healthz")).status_code == 200

        postgres.start()

        async def ready_again() -> bool:
            async with storm.client() as c:
                return (await c.get("/readyz")).status_code == 200

        await eventually(ready_again, 90, "the API to be ready again")
        # The sender retries the alert the outage refused: accepted, queued, applied, paged.
        async with storm.client() as c:
            assert (await c.post("/v2/enqueue", json=event)).status_code == 202
        storm.incident_ids.append(await storm.wait_incident("after-outage"))
        await storm.wait_all_paged()
        await storm.wait_all_exhausted()
        storm.assert_each_level_paged_once_per_incident()
    finally:
        stairway.stop_all()
        postgres.stop()
        postgres.remove()


async def test_acks_racing_the_next_level_never_let_a_page_out_after_the_ack(
    stairway: Stairway, sink: HttpSink
) -> None:
    await stairway.start_api()
    stairway.start_worker()
    stairway.start_worker()
    storm = Storm(stairway, sink, "race")
    await storm.setup(escalate_after_seconds=3)
    await storm.trigger(40)
    await sink.wait_for(lambda: len(storm.keys()) >= 40, 90)
    states = [await storm.incident(i) for i in storm.incident_ids]
    pending = [s["escalation"]["next_due_at"] for s in states if s["escalation"]["next_due_at"]]
    assert pending, "some incident still has a level to climb"
    due = min(pending)
    wait = datetime.fromisoformat(due).timestamp() - time.time()
    await asyncio.sleep(max(0.0, wait))  # fire the acks at the instant level 2 comes due
    acked_at: dict[str, float] = {}
    async with storm.client() as c:

        async def ack(incident_id: str) -> None:
            response = await c.post(f"/api/v1/incidents/{incident_id}/acknowledge")
            assert response.status_code == 200
            acked_at[incident_id] = time.time()

        await asyncio.gather(*(ack(i) for i in storm.incident_ids))
    async with storm.client() as c:
        for incident_id in storm.incident_ids:
            timeline = (await c.get(f"/api/v1/incidents/{incident_id}/timeline")).json()["items"]
            kinds = [t["type"] for t in timeline]
            ack_index = kinds.index("acknowledged")
            assert "notified" not in kinds[ack_index:], kinds
    late = [
        r
        for r in sink.received
        if r.path.startswith("/race/")
        and r.at > acked_at[r.headers["x-stairway-delivery"].split(":")[0]]
    ]
    assert late == []


async def test_a_provider_that_fails_or_hangs_does_not_block_the_other_targets(
    stairway: Stairway, sink: HttpSink
) -> None:
    await stairway.start_api()
    stairway.start_worker()
    sink.script["/down/a"] = [503] * 10
    sink.hang.add("/down/b")
    sink.hang_seconds = 3  # longer than the 1 s delivery timeout
    async with httpx.AsyncClient(base_url=stairway.base_url) as c:
        storm = Storm(stairway, sink, "down")
        await storm.setup()
        c.headers.update(storm.headers)
        ids = []
        for name in ("a", "b", "c"):
            user = (
                await c.post(
                    "/api/v1/users", json={"name": name, "email": f"down.{name}@example.com"}
                )
            ).json()
            method = (
                await c.post(
                    f"/api/v1/users/{user['id']}/contact-methods",
                    json={"type": "webhook", "address": sink.url(f"/down/{name}")},
                )
            ).json()
            verify = f"/api/v1/users/{user['id']}/contact-methods/{method['id']}/mark-verified"
            await c.post(verify)
            ids.append(user["id"])
        policy = (
            await c.post(
                "/api/v1/escalation-policies",
                json={
                    "name": "down-policy",
                    "levels": [
                        {
                            "escalate_after_seconds": 600,
                            "targets": [{"type": "user", "id": uid} for uid in ids],
                        }
                    ],
                },
            )
        ).json()
        await c.patch(
            f"/api/v1/services/{storm.service_id}", json={"escalation_policy_id": policy["id"]}
        )
        incident = (
            await c.post(
                "/api/v1/incidents", json={"service_id": storm.service_id, "title": "provider down"}
            )
        ).json()

        async def final_failures() -> int:
            timeline = (await c.get(f"/api/v1/incidents/{incident['id']}/timeline")).json()
            return sum(
                1
                for t in timeline["items"]
                if t["type"] == "notification_failed" and t["details"]["final"]
            )

        # Not blocked: the healthy target is paged while the others are still being retried
        # (an order of events, which holds however slow the machine is).
        await sink.wait_count("/down/c", 1, timeout=60)
        assert await final_failures() == 0

        async def gave_up() -> bool:
            return await final_failures() == 2

        await eventually(gave_up, 60, "both failing targets to exhaust their retries")
        timeline = (await c.get(f"/api/v1/incidents/{incident['id']}/timeline")).json()["items"]
    failed = [t["details"] for t in timeline if t["type"] == "notification_failed"]
    by_path = {
        d["user_id"]: [f["attempt"] for f in failed if f["user_id"] == d["user_id"]] for d in failed
    }
    assert sorted(len(a) for a in by_path.values()) == [5, 5]
    assert any(d["response"] == "timed out" for d in failed)
    assert any(d["status_code"] == 503 for d in failed)
    assert not any(t["type"] == "level_failed" for t in timeline), "one target was reached"
    assert [t["type"] for t in timeline].count("notified") == 1


async def test_workers_run_below_the_apis_cpu_priority(stairway: Stairway) -> None:
    api = await stairway.start_api()
    worker = stairway.start_worker()

    async def lowered() -> bool:
        return os.getpriority(os.PRIO_PROCESS, worker.popen.pid) == 5

    await eventually(lowered, 90, "the worker to lower its priority by the default 5")
    assert os.getpriority(os.PRIO_PROCESS, api.popen.pid) == 0
