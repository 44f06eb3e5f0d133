"""Each benchmark runs end to end with tiny numbers and writes a result that adds up.

Benchmarks are not tests (their figures depend on the machine); these only keep them working.
Each run gets a database of its own and writes its result into the test's tmp dir.
"""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[2]


def _ack_throughput(result: dict[str, Any]) -> None:
    acks = result["acknowledgements"]
    assert acks["ok"] > 0
    assert result["bare_insert_ceiling"]["ok"] > 0
    # Every 200 is an acknowledgement committed: the incident and its timeline entry.
    done = result["acknowledged_ok_including_warmup"]
    assert result["stored"] == {"incidents_acknowledged": done, "acknowledged_entries": done}


def _page_latency(result: dict[str, Any]) -> None:
    for route in ("/api/v1/incidents", "/v2/enqueue"):
        assert result["accepted_to_page"][route]["count"] == 2
        assert result["accepted_to_page"][route]["p50_ms"] > 0


def _delivery(result: dict[str, Any]) -> None:
    assert result["distinct_delivered"] == result["pages"] == 40
    assert result["notified_entries"] == 40
    assert result["bare_aiohttp_posts"]["before"]["posts"] == 40
    assert result["ratio_to_bare_posts"] > 0
    # The delivery path without PostgreSQL sent every page to the sink, and they were answered.
    assert result["send_path_without_database"]["pages"] == 40


def _ingest(result: dict[str, Any]) -> None:
    for phase in ("bare_ceiling", "stairway_new_incidents", "stairway_dedup_hits"):
        accepted = result[phase]["accepted"]
        assert accepted > 0
        # Every accepted event is stored; wrk does not count the answers still in flight at
        # its end (at most one per connection), whose events are stored too.
        assert accepted <= result[phase]["stored"] <= accepted + result["connections"]


SMOKE: dict[str, tuple[list[str], Callable[[dict[str, Any]], None]]] = {
    "ack_throughput": (
        [
            *("--duration", "1", "--warmup", "0.5", "--rounds", "1", "--connections", "2"),
            *("--steps-per-second", "20", "--acks-room", "200", "--lead-seconds", "1"),
        ],
        _ack_throughput,
    ),
    "page_latency": (["--triggers", "4", "--pause-seconds", "0.05"], _page_latency),
    "delivery": (["--pages", "40", "--lead-seconds", "4", "--timeout-seconds", "60"], _delivery),
    "ingest": (
        [*("--duration", "1", "--warmup", "1", "--connections", "4", "--threads", "1")],
        _ingest,
    ),
}


@pytest.fixture
def database_name(servers: tuple[str, str]) -> Iterator[str]:
    name = f"stairway_bench_smoke_{uuid.uuid4().hex[:8]}"
    yield name

    async def drop() -> None:
        engine = create_async_engine(servers[0], isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()

    asyncio.run(drop())


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_the_benchmark_runs_and_its_result_adds_up(
    name: str, servers: tuple[str, str], database_name: str, tmp_path: Path
) -> None:
    args, check = SMOKE[name]
    done = subprocess.run(
        [
            *(sys.executable, "-m", f"bench.{name}", *args),
            *("--database-url", servers[0], "--redis-url", servers[1]),
            *("--database-name", database_name),
        ],
        cwd=ROOT,
        env={**os.environ, "STAIRWAY_BENCH_RESULTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [written] = tmp_path.glob("*.json")
    check(json.loads(written.read_text()))
