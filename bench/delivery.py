"""Page delivery throughput of one worker process: 10,000 webhook pages due at one instant.

The pages are outbox rows of incidents at level 1, all due at the same instant a few seconds
ahead, with the deliverer's wake-up for that instant queued (as committing them queues it).
The ceiling, before and after in the same run: a bare aiohttp POST loop (100 requests in
flight, page-sized bodies; `bench/bare_post.py`) to the same sink, in a process of its own at
the worker's CPU priority (`--worker-nice`, default STAIRWAY_WORKER_NICE's).
One `stairway worker` process delivers them over the full path (lock incidents and pages,
re-check, send, mark sent, record on the timeline) to a loopback sink that runs in its own
process (`bench/sink_server.py`, uvicorn, no access log), so the sink's per-request cost does
not land in the benchmark's own process. Due-to-sent is the sink's receive time minus the due
instant. Between the worker's run and the second bare loop, the same pages go through the
delivery path without PostgreSQL (`bench/send_path.py`: render, sign, send, classify, with the
worker's providers): its share of the bare loop bounds what any claim and record could reach.

    python -m bench.delivery [--pages 10000 --lead-seconds 12 --timeout-seconds 120]
    python -m bench.delivery --pages 2000 --profile 1   # worker under cProfile (slower)
"""

import asyncio
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from arq import create_pool
from arq.constants import health_check_key_suffix
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.models import Incident, Notification
from app.paging.delivery import delivery_wakeup
from app.queue import arq_enqueuer
from app.redis_url import arq_redis_settings
from bench.common import (
    ROOT,
    Bench,
    load_average,
    parse_args,
    print_table,
    run,
    summary_ms,
    write_result,
)
from bench.procs import cpu_seconds, cpu_since, postgres_cpu, serve, stop
from tests.faults.harness import Proc

# Pages/s of the worker as a share of a bare aiohttp POST loop to the same sink, same run.
TARGET_RATIO = 0.6
CHUNK = 1000


async def bare_posts(sink_url: str, count: int, nice: int) -> dict[str, float]:
    """The ceiling (`bench/bare_post.py`) in its own process at the worker's CPU priority."""
    return await _loop("bench.bare_post", sink_url, count, nice)


async def send_path(sink_url: str, count: int, nice: int) -> dict[str, float]:
    """The delivery path without PostgreSQL (`bench/send_path.py`), at the worker's priority."""
    return await _loop("bench.send_path", sink_url, count, nice)


def _cpu_us_each(cores: float, per_second: float) -> float:
    """CPU µs per request of a loop that used `cores` at `per_second` requests/s (0 without any)."""
    return 1e6 * cores / per_second if per_second else 0.0


async def _loop(module: str, sink_url: str, count: int, nice: int) -> dict[str, float]:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", module, sink_url, str(count)],
        capture_output=True,
        check=True,
        cwd=ROOT,
        preexec_fn=lambda: os.nice(nice),
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


async def seed(
    bench: Bench,
    service_id: uuid.UUID,
    snapshot: Any,
    *,
    pages_wanted: int,
    sink: str,
    due: datetime,
) -> list[uuid.UUID]:
    """Incidents at level 1, one pending webhook page each (made due by `arm`)."""
    engine = create_async_engine(bench.settings.database_url)
    async with engine.connect() as conn:
        method_id, user_id = (
            await conn.execute(text("SELECT id, user_id FROM contact_methods LIMIT 1"))
        ).one()
    entered = due - timedelta(seconds=1)
    incidents, pages = [], []
    for i in range(pages_wanted):
        incident_id, page_id = uuid.uuid4(), uuid.uuid4()
        incidents.append(
            {
                "id": incident_id,
                "service_id": service_id,
                "title": f"bench {i}",
                "severity": "critical",
                "urgency": "high",
                "status": "triggered",
                "source": "bench",
                "dedup_key": incident_id.hex,
                "details": {},
                "alert_count": 1,
                "policy_id": uuid.UUID(snapshot.id),
                "policy_snapshot": snapshot.to_json(),
                "escalation_level": 1,
                "escalation_loop": 0,
                "level_entered_at": entered,
                "next_due_at": None,
                "step_token": 1,
                "exhausted": False,
                "max_level_reached": 1,
                "created_at": entered,
                "updated_at": entered,
            }
        )
        pages.append(
            {
                "id": page_id,
                "incident_id": incident_id,
                "level": 1,
                "loop": 0,
                "condition": "unacknowledged",
                "target_type": "user",
                "user_id": user_id,
                "contact_method_id": method_id,
                "channel": "webhook",
                "address": sink,
                "idempotency_key": f"{incident_id}:0:0:1:0:bench",
                "status": "pending",
                "due_at": due,
                "attempts": 0,
                "created_at": entered,
            }
        )
    async with engine.begin() as conn:
        for start in range(0, len(pages), CHUNK):
            await conn.execute(insert(Incident).values(incidents[start : start + CHUNK]))
            await conn.execute(insert(Notification).values(pages[start : start + CHUNK]))
    await engine.dispose()
    return [p["id"] for p in pages]


async def arm(bench: Bench, lead_seconds: float) -> datetime:
    """Make every page due `lead_seconds` from now and queue the deliverer's wake-up for then."""
    due = datetime.now(UTC) + timedelta(seconds=lead_seconds)
    engine = create_async_engine(bench.settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE notifications SET due_at = :due"), {"due": due})
    await engine.dispose()
    pool = await create_pool(
        arq_redis_settings(bench.settings.redis_url), default_queue_name=bench.settings.queue_name
    )
    # What committing the pages asks for (`schedule_delivery`): one wake-up per 10 ms bucket.
    await arq_enqueuer(pool)([delivery_wakeup(due)])
    await pool.aclose()
    return due


def start_worker(bench: Bench, profile_path: Path | None) -> Proc:
    if profile_path is None:
        return bench.stairway.start_worker()
    code = (
        "import cProfile, sys; sys.argv = ['stairway', 'worker']; from app.cli import main; "
        f"cProfile.run('main()', {str(profile_path)!r})"
    )
    log_path = bench.stairway.workdir / "worker-profiled.log"
    with log_path.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-c", code],
            env=bench.stairway.env(),
            cwd=bench.stairway.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    proc = Proc(popen, log_path)
    bench.stairway.procs.append(proc)
    return proc


async def main() -> None:
    args = parse_args(
        __doc__ or "",
        pages=10_000,
        lead_seconds=12.0,
        timeout_seconds=120.0,
        profile=0,
        worker_nice=-1,
    )
    worker_nice = Settings().worker_nice if args.worker_nice < 0 else args.worker_nice
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    bench = await Bench.create(args, "delivery", workdir)
    profile_path = workdir / "worker.prof" if args.profile else None
    sink, sink_url = await asyncio.to_thread(serve, "bench.sink_server:app")
    try:
        # The ceiling, before and after the worker's run (the machine's load changes).
        bare_before = await bare_posts(sink_url, args.pages, worker_nice)
        service_id, snapshot = await bench.policy_and_service([3600])
        page_ids = await seed(
            bench,
            service_id,
            snapshot,
            pages_wanted=args.pages,
            sink=f"{sink_url}/page",
            due=datetime.now(UTC) + timedelta(days=1),
        )
        seeded = len(page_ids)
        due = await arm(bench, args.lead_seconds)
        # The product's default timeout (the fault harness shortens it to 1 s).
        bench.stairway.extra_env["STAIRWAY_DELIVERY_TIMEOUT_SECONDS"] = "5"
        bench.stairway.extra_env["STAIRWAY_WORKER_NICE"] = str(worker_nice)
        worker = start_worker(bench, profile_path)
        # arq writes its health-check key on its first poll of the queue.
        redis = Redis.from_url(bench.settings.redis_url)
        health = bench.settings.queue_name + health_check_key_suffix
        while not await redis.exists(health) and time.time() < due.timestamp():
            if worker.popen.poll() is not None:
                raise RuntimeError(worker.log())
            await asyncio.sleep(0.05)
        await redis.aclose()
        ready_margin = (due - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
        cpu_before = {"worker": cpu_seconds(worker.popen.pid), "sink": cpu_seconds(sink.pid)}
        postgres_before = postgres_cpu()
        wall_start = time.monotonic()
        deadline = due.timestamp() + args.timeout_seconds
        async with httpx.AsyncClient(base_url=sink_url) as client:
            delivered = 0
            while delivered < seeded and time.time() < deadline:
                await asyncio.sleep(0.2)
                delivered = (await client.get("/count")).json()["count"] - bare_before["posts"]
            wall = time.monotonic() - wall_start
            cpu = {
                "worker": cpu_seconds(worker.popen.pid) - cpu_before["worker"],
                "sink": cpu_seconds(sink.pid) - cpu_before["sink"],
                "postgres": cpu_since(postgres_before, postgres_cpu()),
            }
            # The pages: what the sink received with a delivery id (not the bare POSTs).
            receipts: list[list[Any]] = [r for r in (await client.get("/receipts")).json() if r[1]]
        await asyncio.sleep(1)  # the last pages' transactions commit after the sink answered
        engine = create_async_engine(bench.settings.database_url)
        async with engine.connect() as conn:
            sent_rows = (
                await conn.execute(text("SELECT count(*) FROM notifications WHERE status = 'sent'"))
            ).scalar()
            counts: dict[str, int] = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT type, count(*) FROM timeline_entries "
                            "WHERE type IN ('notified', 'notification_failed') GROUP BY type"
                        )
                    )
                ).all()
            )
            notified = counts.get("notified", 0)
            failed_attempts = counts.get("notification_failed", 0)
        await engine.dispose()
        sending = await send_path(sink_url, args.pages, worker_nice)
        bare_after = await bare_posts(sink_url, args.pages, worker_nice)
    finally:
        stop(sink)
        await bench.close()

    t0 = due.timestamp()
    times = sorted(at for at, _ in receipts)
    unique = len({key for _, key in receipts})
    late_ms = [(at - t0) * 1000 for at in times]
    delivered_stats = summary_ms(late_ms)
    # Pages never delivered count as late as the end of the wait.
    late_ms += [(deadline - t0) * 1000] * max(0, seeded - unique)
    span = (times[-1] - t0) if times else float("nan")
    rate = round(len(times) / span, 1) if times else 0.0
    steady = round(len(times) / (times[-1] - times[0]), 1) if len(times) > 1 else 0.0
    stats = summary_ms(late_ms)
    bare_rate = (bare_before["posts_per_second"] + bare_after["posts_per_second"]) / 2
    ratio = round(rate / bare_rate, 3) if bare_rate else 0.0
    send_ratio = round(sending["pages_per_second"] / bare_rate, 3) if bare_rate else 0.0
    met = unique == seeded and ratio >= TARGET_RATIO
    # CPU per page against the bare loop's CPU per POST: unlike the rates, this hardly moves
    # with how much CPU the machine gives the processes from one second to the next.
    bare_cpu_us = [
        _cpu_us_each(bare["cpu_cores"], bare["posts_per_second"])
        for bare in (bare_before, bare_after)
        if bare["posts_per_second"]
    ]
    bare_post_us = sum(bare_cpu_us) / len(bare_cpu_us) if bare_cpu_us else 0.0
    per_page_us = {k: round(1e6 * v / len(times), 1) if times else 0.0 for k, v in cpu.items()}
    per_page_us["send path alone"] = round(
        _cpu_us_each(sending["cpu_cores"], sending["pages_per_second"]), 1
    )
    # A tiny run's bare loop may round to 0 cores: then there is no multiple to give.
    per_page_x = {
        k: round(v / bare_post_us, 2) if bare_post_us else None for k, v in per_page_us.items()
    }
    result = {
        "pages": seeded,
        "delivered": len(times),
        "distinct_delivered": unique,
        "sent_rows": sent_rows,
        "notified_entries": notified,
        "failed_attempts": failed_attempts,
        "worker_ready_seconds_before_due": round(ready_margin, 2),
        "pages_per_second": rate,
        "pages_per_second_first_to_last": steady,
        "due_to_sent": stats,
        "due_to_sent_delivered_only": delivered_stats,
        "cpu_cores_used": {k: round(v / wall, 2) for k, v in cpu.items()},
        "cpu_us_per_page": per_page_us,
        "bare_cpu_us_per_post": round(bare_post_us, 1),
        "cpu_per_page_over_bare_post": per_page_x,
        "profiled": bool(args.profile),
        "worker_nice": worker_nice,
        "bare_aiohttp_posts": {"before": bare_before, "after": bare_after},
        "ratio_to_bare_posts": ratio,
        "send_path_without_database": sending,
        "send_path_ratio_to_bare_posts": send_ratio,
        "load_average_at_end": load_average(),
        "target_ratio": TARGET_RATIO,
        "met": met,
    }
    print_table(
        "page delivery, one worker process, webhook pages to a loopback sink (own process)",
        [
            ("pages due at one instant", seeded),
            ("delivered (distinct)", f"{len(times)} ({unique})"),
            ("marked sent / 'notified' entries", f"{sent_rows} / {notified}"),
            ("failed attempts (retried)", failed_attempts),
            ("worker ready before the due instant", f"{ready_margin:.2f} s"),
            ("pages/s (due -> last page)", rate),
            (
                "bare aiohttp POSTs/s to the sink (before, after)",
                f"{bare_before['posts_per_second']}, {bare_after['posts_per_second']}",
            ),
            (
                "pages/s / bare POSTs/s",
                f"{ratio:.0%}  (target >= {TARGET_RATIO:.0%}): {'met' if met else 'NOT MET'}",
            ),
            (
                "send path alone, no database: pages/s (/ bare)",
                f"{sending['pages_per_second']} ({send_ratio:.0%})",
            ),
            ("pages/s (first -> last page)", steady),
            ("due -> sent p50 (undelivered = end of wait)", f"{stats['p50_ms']} ms"),
            ("due -> sent p99", f"{stats['p99_ms']} ms"),
            ("due -> sent max", f"{stats['max_ms']} ms"),
            (
                "due -> sent p50 / p99, delivered pages only",
                f"{delivered_stats['p50_ms']} / {delivered_stats['p99_ms']} ms",
            ),
            ("CPU cores used (worker, sink, postgres)", result["cpu_cores_used"]),
            ("CPU per page, us (worker, sink, postgres, send path)", per_page_us),
            ("bare loop's CPU per POST", f"{bare_post_us:.1f} us"),
            ("CPU per page / bare loop's CPU per POST", per_page_x),
            ("worker under cProfile", bool(args.profile)),
            ("load average at the end", result["load_average_at_end"]),
        ],
    )
    write_result("delivery_profiled" if args.profile else "delivery", result)
    if profile_path is not None and profile_path.exists():
        print("\nworker profile, top functions by own time:")
        pstats.Stats(str(profile_path)).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    run(main)
