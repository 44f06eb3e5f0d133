"""A rolling restart of two API processes and three workers under steady alerts and acks."""

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import SMALL_POOLS, Stairway, eventually, free_port
from tests.faults.scenario import LEVELS, Storm
from tests.faults.traffic import Responder, Sender
from tests.support import HttpSink

# Outside the default run (the suite keeps to 10 minutes); .ci/run runs them after it.
pytestmark = pytest.mark.failover


async def test_restarting_every_process_in_turn_loses_nothing_and_pages_nobody_twice(
    database_url: str, servers: tuple[str, str], tmp_path: Path, sink: HttpSink, app: Any
) -> None:
    stairway = Stairway(
        database_url=database_url, redis_url=servers[1], workdir=tmp_path, extra_env=SMALL_POOLS
    )
    try:
        apis = [await stairway.start_api(), await stairway.start_api(free_port())]
        workers = [stairway.start_worker() for _ in range(3)]
        urls = [f"http://127.0.0.1:{api.port}" for api in apis]
        storm = Storm(stairway, sink, "rolling")
        await storm.setup(escalate_after_seconds=1)
        sender = Sender(storm, await storm.integration_key(), urls, name="rolling")
        responder = Responder(storm, sink, urls)
        traffic = [
            # About 8 alerts a second, each paging up to 3 levels: steady, not a storm.
            asyncio.create_task(sender.run(concurrency=1, pause_seconds=0.1)),
            asyncio.create_task(responder.run()),
        ]
        await sender.wait_accepted(10)

        for processes in (apis, workers):
            for index, proc in enumerate(processes):
                processes[index] = await stairway.restart(proc)
                # Service goes on between restarts: more alerts are taken in.
                await sender.wait_accepted(len(sender.accepted) + 5)
        sender.running = False
        await traffic[0]
        await storm.wait_alerts_opened(sender.accepted)

        await eventually(lambda: _all_settled(storm, responder), 60, "every incident to settle")
        responder.running = False
        await traffic[1]
    finally:
        stairway.stop_all()

    # Senders saw 2xx or a 503 with Retry-After; a refused connection (0) went to the other API.
    assert set(sender.statuses()) <= {0, 200, 201, 202, 503}, sender.statuses()
    assert sender.refusals_without_retry_after() == []
    keys = storm.keys()
    assert max(keys.values()) == 1, "no page reached the sink twice"
    by_level = Counter(tuple(key.split(":")[i] for i in (0, 3)) for key in keys)
    assert max(by_level.values()) == 1, "each incident's level paged once"
    assert responder.pages_after_ack() == []
    assert responder.acked_at, "incidents were acknowledged during the restarts"


async def _all_settled(storm: Storm, responder: Responder) -> bool:
    """Odd alerts climbed every level; even ones were acknowledged."""
    for incident in await storm.all_incidents():
        number = int(incident["dedup_key"].rpartition("-")[2])
        if number % 2:
            if not incident["escalation"]["exhausted"]:
                return False
        elif incident["id"] not in responder.acked_at:
            return False
    paged = Counter(key.split(":")[0] for key in storm.keys())
    unacked = [i for i in storm.incident_ids if i not in responder.acked_at]
    return all(paged[i] == LEVELS for i in unacked)
