"""Recovery: seconds until overdue escalations resume after a worker SIGKILL and a Redis FLUSHALL.

Steps come due continuously (default 100/s). At --kill-at the only worker is SIGKILLed and a
new one started; at --flush-at Redis is flushed with the worker running. Recovery is the time
from the fault until every step is firing on time again (lateness under 250 ms), read from
the escalation timeline.

    python -m bench.recovery [--rate 100 --duration-seconds 40]
"""

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bench.common import Bench, parse_args, print_table, run, write_result

ON_TIME_MS = 250


def recovery_seconds(
    entries: list[dict[str, object]], fault_at: datetime, until: datetime
) -> float:
    """From the fault to the due time after which no step in [fault, until) was late."""
    window = sorted(
        (e for e in entries if fault_at <= e["at"] < until),  # type: ignore[operator]
        key=lambda e: e["at"],
    )  # type: ignore[arg-type,return-value]
    last_late = fault_at
    for e in window:
        if e["lateness_ms"] > ON_TIME_MS:  # type: ignore[operator]
            last_late = e["at"]  # type: ignore[assignment]
    return round((last_late - fault_at).total_seconds(), 2)


async def main() -> None:
    args = parse_args(
        __doc__ or "",
        rate=100,
        duration_seconds=40.0,
        kill_at=10.0,
        flush_at=25.0,
        lead_seconds=15.0,
    )
    bench = await Bench.create(args, "recovery", Path(tempfile.mkdtemp(prefix="bench-")))
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
        client = aioredis.from_url(args.redis_url)
        await client.flushall()
        await client.aclose()
        await bench.sink.wait_for(lambda: len(bench.sink.received) >= count, timeout=120)
        entries = [e for e in await bench.escalations() if e["level"] == 2]
    finally:
        await bench.close()

    after_kill = recovery_seconds(entries, kill_at, flush_at)
    after_flush = recovery_seconds(entries, flush_at, due[-1] + timedelta(seconds=1))
    result = {
        "steps": len(entries),
        "rate_per_second": args.rate,
        "worker_kill_recovery_seconds": after_kill,
        "redis_flush_recovery_seconds": after_flush,
        "target_seconds": 5,
        "met": after_kill <= 5 and after_flush <= 5,
    }
    print_table(
        "recovery after faults (seconds until steps fire on time again)",
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
