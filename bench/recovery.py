"""Recovery: seconds until overdue escalations resume after a worker SIGKILL and a Redis FLUSHALL.

Steps come due continuously (default 20/s, what one worker sustains here). At --kill-at the
only worker is SIGKILLed and a new one started; at --flush-at Redis is flushed with the worker
running. Recovery is the longest any step due around the fault (1 s before to 5 s after)
waited to fire, read from the escalation timeline.

    python -m bench.recovery [--rate 20 --duration-seconds 40]
"""

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.common import Bench, parse_args, print_table, run, write_result
from tests.faults.harness import PrivateRedis


def recovery_seconds(entries: list[dict[str, Any]], fault_at: datetime) -> float:
    """The longest any step due around the fault (1 s before to 5 s after) waited to fire."""
    window = [
        e
        for e in entries
        if fault_at - timedelta(seconds=1) <= e["at"] <= fault_at + timedelta(seconds=5)
    ]
    return round(max((e["lateness_ms"] for e in window), default=0) / 1000, 2)


async def main() -> None:
    args = parse_args(
        __doc__ or "",
        rate=20,
        duration_seconds=40.0,
        kill_at=10.0,
        flush_at=25.0,
        lead_seconds=15.0,
    )
    # A Redis of our own: the benchmark flushes it.
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    private_redis = PrivateRedis(workdir)
    private_redis.start()
    args.redis_url = private_redis.url
    bench = await Bench.create(args, "recovery", workdir)
    try:
        service_id, snapshot = await bench.policy_and_service([60, 3600])
        start = datetime.now(UTC) + timedelta(seconds=args.lead_seconds)
        count = int(args.rate * args.duration_seconds)
        due = [start + timedelta(seconds=i / args.rate) for i in range(count)]
        await bench.seed_escalating(service_id, snapshot, due)
        worker = bench.stairway.start_worker()
        await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds() + args.kill_at))
        kill_at = datetime.now(UTC)
        worker.kill()
        bench.stairway.start_worker()
        await asyncio.sleep(max(0.0, start.timestamp() + args.flush_at - time.time()))
        flush_at = datetime.now(UTC)
        client = aioredis.Redis.from_url(args.redis_url)
        await client.flushall()
        await client.aclose()
        await bench.sink.wait_for(lambda: len(bench.sink.received) >= count, timeout=120)
        entries = [e for e in await bench.escalations() if e["level"] == 2]
    finally:
        await bench.close()
        private_redis.stop()

    after_kill = recovery_seconds(entries, kill_at)
    after_flush = recovery_seconds(entries, flush_at)
    result = {
        "steps": len(entries),
        "rate_per_second": args.rate,
        "worker_kill_recovery_seconds": after_kill,
        "redis_flush_recovery_seconds": after_flush,
        "target_seconds": 5,
        "met": after_kill <= 5 and after_flush <= 5,
    }
    print_table(
        "recovery after faults (longest wait of a step due around the fault)",
        [
            ("steps", len(entries)),
            ("steps/s", args.rate),
            ("worker SIGKILL + restart", f"{after_kill} s  (target <= 5)"),
            ("Redis FLUSHALL", f"{after_flush} s  (target <= 5)"),
        ],
    )
    write_result("recovery", result)


if __name__ == "__main__":
    run(main)
