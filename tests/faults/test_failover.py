"""Failover on real replicated servers: Redis Sentinel promotes a replica, PostgreSQL a standby."""

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config

from app.bootstrap import create_admin_key
from app.config import Settings
from app.database_url import normalize_database_url
from app.main import create_app
from tests.faults.harness import ROOT, Stairway, eventually
from tests.faults.replicas import SentinelRedis, StreamingPostgres
from tests.faults.scenario import Storm
from tests.faults.traffic import Sender
from tests.support import HttpSink

# Outside the default run (the suite keeps to 10 minutes); .ci/run runs them after it.
pytestmark = pytest.mark.failover


@pytest.fixture
def sentinel_redis(tmp_path: Path) -> Iterator[SentinelRedis]:
    servers = SentinelRedis(tmp_path)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def postgres_pair() -> Iterator[StreamingPostgres]:
    pair = StreamingPostgres()
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


async def _ready(base_url: str) -> bool:
    try:
        async with httpx.AsyncClient() as c:
            return (await c.get(f"{base_url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def _refused(sender: Sender, count: int) -> bool:
    return sender.statuses()[503] >= count


async def test_sentinel_promotes_a_replica_mid_storm_and_nothing_is_lost_or_paged_twice(
    database_url: str, sentinel_redis: SentinelRedis, tmp_path: Path, sink: HttpSink, app: Any
) -> None:
    stairway = Stairway(database_url=database_url, redis_url=sentinel_redis.url, workdir=tmp_path)
    try:
        await stairway.start_api()
        stairway.start_worker()
        storm = Storm(stairway, sink, "sentinel")
        await storm.setup(escalate_after_seconds=2)
        await storm.trigger(30)
        await sink.wait_for(lambda: len(storm.keys()) >= 30, 30)

        old_master = sentinel_redis.kill_master()
        await storm.trigger(10)  # accepted while Redis has no master: PostgreSQL holds them
        new_master = await asyncio.to_thread(sentinel_redis.wait_promoted, old_master)
        assert new_master != old_master
        await eventually(lambda: _ready(stairway.base_url), 30, "the API to use the new master")
        await storm.trigger(10)

        await storm.wait_all_paged()
        await storm.wait_all_exhausted()
        storm.assert_each_level_paged_once_per_incident()
    finally:
        stairway.stop_all()


async def test_postgres_failover_mid_storm_keeps_every_accepted_alert_and_pages_once(
    postgres_pair: StreamingPostgres, servers: tuple[str, str], tmp_path: Path, sink: HttpSink
) -> None:
    stairway = Stairway(database_url=postgres_pair.url(), redis_url=servers[1], workdir=tmp_path)
    try:
        stairway.migrate()
        await stairway.start_api()
        stairway.start_worker()
        storm = Storm(stairway, sink, "pgfailover")
        await storm.setup(escalate_after_seconds=2)
        sender = Sender(storm, await storm.integration_key(), [stairway.base_url])
        sending = asyncio.create_task(sender.run())
        await storm.trigger(20)
        await sender.wait_accepted(10)

        await asyncio.to_thread(postgres_pair.crash_primary)
        # Until the standby is promoted nothing takes writes: senders are told to come back.
        await eventually(
            lambda: _refused(sender, 3), 30, "the sender to be refused while nothing takes writes"
        )
        await asyncio.to_thread(postgres_pair.promote_standby)
        before = len(sender.accepted)
        await sender.wait_accepted(before + 10)  # served again, by the promoted standby
        sender.running = False
        await sending

        assert set(sender.statuses()) <= {200, 201, 202, 503}, sender.statuses()
        assert sender.statuses()[503] > 0, "the failover was seen by the sender"
        assert sender.refusals_without_retry_after() == []
        await storm.wait_alerts_opened(sender.accepted)
        await storm.wait_all_paged()
        await storm.wait_all_exhausted()
        storm.assert_each_level_paged_once_per_incident()
    finally:
        stairway.stop_all()


async def test_a_database_with_no_writable_host_answers_503_not_500(
    postgres_pair: StreamingPostgres, servers: tuple[str, str], settings: Settings
) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = postgres_pair.primary.url
    await asyncio.to_thread(command.upgrade, config, "head")
    on_primary = settings.model_copy(update={"database_url": postgres_pair.primary.url})
    key = await create_admin_key(on_primary, email="standby@example.com", name="Root")
    for read_write in (True, False):
        # read-write: asyncpg finds no writable host; without it: a standby refuses the INSERT.
        url = normalize_database_url(postgres_pair.standby_url(read_write=read_write))
        application = create_app(
            settings.model_copy(update={"database_url": url, "secret_key": "standby-test"})
        )
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application), base_url="http://stairway.test"
            ) as client,
        ):
            created = await client.post(
                "/api/v1/incidents",
                json={"service_id": str(uuid.uuid4()), "title": "nowhere to write"},
                headers={"Authorization": f"Bearer {key}"},
            )
            enqueued = await client.post(
                "/v2/enqueue",
                json={
                    "routing_key": "k" * 32,
                    "event_action": "trigger",
                    "payload": {"summary": "s", "source": "s", "severity": "critical"},
                },
            )
        for response in (created, enqueued):
            assert response.status_code == 503, (read_write, response.text)
            assert response.headers["retry-after"]
