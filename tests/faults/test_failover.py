"""Failover on real replicated servers: Redis Sentinel promotes a replica, PostgreSQL a standby."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.harness import Stairway, eventually
from tests.faults.replicas import SentinelRedis, StreamingPostgres
from tests.faults.scenario import Storm
from tests.support import HttpSink


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
