"""Inbound alert throughput: PagerDuty Events v2 triggers against `stairway api` vs. a bare ceiling.

wrk (Debian's `wrk` package: `apt-get install -y wrk`; a benchmark tool, not a CI dependency)
drives `POST /v2/enqueue` with 64 connections for 10 s each against, in this order:

1. the ceiling: a bare FastAPI endpoint doing one asyncpg INSERT (`bench/bare_insert.py`,
   uvicorn in its own process, no access log);
2. `stairway api` (one process, per-key rate limit and access log off, as for the ceiling)
   with 2 `stairway worker` processes, every event a new incident (unique dedup keys), which
   the workers apply from the inbox and page to a loopback sink while the load goes on;
3. the same, every event a dedup hit on one open incident.

Each phase has a short warm-up that is not counted. Events/s counts 2xx answers only (a 2xx
means the event is committed to PostgreSQL). After each phase the benchmark waits until the
workers have applied every queued event and reports how long that took after the load
stopped, and what it found in PostgreSQL then.

The workers run at the CPU priority `stairway worker` takes by default (STAIRWAY_WORKER_NICE);
`--worker-nice 0` runs them at the API's priority instead.

    python -m bench.ingest [--duration 10 --connections 64 --threads 2 --workers 2]
                           [--worker-nice N]
"""

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.services.schemas import IntegrationKeyCreate
from app.services.service import create_integration_key
from bench.common import (
    API_START_SECONDS,
    Bench,
    parse_args,
    print_table,
    run,
    serve_bare_insert,
    write_result,
)
from bench.procs import cpu_seconds, stop

NEW_TARGET_RATIO = 0.5
NEW_TARGET_P99_MS = 100.0
DEDUP_TARGET_RATIO = 0.7

# One trigger per request; `dedup` mode sends the same dedup key every time.
WRK_SCRIPT = r"""
local key = os.getenv("BENCH_ROUTING_KEY")
local mode = os.getenv("BENCH_MODE")
local run = os.getenv("BENCH_RUN")
local threads = 0
counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  counter = counter + 1
  local dedup = "bench-dedup"
  if mode == "new" then
    dedup = run .. "-" .. tid .. "-" .. counter
  end
  local body = string.format(
    '{"routing_key":"%s","event_action":"trigger","dedup_key":"%s","payload":' ..
    '{"summary":"disk full on db-%d","source":"db-%d.example.com","severity":"critical",' ..
    '"component":"postgres","group":"prod","custom_details":{"free_bytes":%d}}}',
    key, dedup, counter % 97, counter % 97, counter)
  return wrk.format("POST", "/v2/enqueue", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end
"""


def run_wrk(
    url: str, script: Path, args: Any, *, duration: float, key: str, mode: str, run_id: str
) -> dict[str, Any]:
    env = {**os.environ, "BENCH_ROUTING_KEY": key, "BENCH_MODE": mode, "BENCH_RUN": run_id}
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    stats: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = stats["duration_us"] / 1e6
    ok = stats["requests"] - stats["status_errors"]
    socket_errors = sum(stats[k] for k in ("connect_errors", "read_errors", "write_errors"))
    return {
        "seconds": round(seconds, 2),
        "answers": stats["requests"],
        "accepted": ok,
        "non_2xx": stats["status_errors"],
        "socket_errors": socket_errors,
        "timeouts": stats["timeouts"],
        "events_per_second": round(ok / seconds, 1),
        "p50_ms": round(stats["p50_us"] / 1000, 1),
        "p99_ms": round(stats["p99_us"] / 1000, 1),
        "max_ms": round(stats["max_us"] / 1000, 1),
        "mean_ms": round(stats["mean_us"] / 1000, 1),
        "wrk_cpu_cores": round(wrk_cpu / seconds, 2),
    }


async def measure(
    url: str,
    script: Path,
    args: Any,
    *,
    key: str,
    mode: str,
    pids: dict[str, int],
    after_warmup: Callable[[], Awaitable[Any]] | None = None,
) -> dict[str, Any]:
    """A warm-up, then the measured run; CPU seconds per core-second of the given processes."""
    await asyncio.to_thread(
        run_wrk, url, script, args, duration=args.warmup, key=key, mode=mode, run_id="warm"
    )
    baseline = await after_warmup() if after_warmup is not None else None
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    result = await asyncio.to_thread(
        run_wrk, url, script, args, duration=args.duration, key=key, mode=mode, run_id="run"
    )
    wall = time.monotonic() - started
    result["after_warmup"] = baseline
    result["cpu_cores_used"] = {
        name: round((cpu_seconds(pid) - before[name]) / wall, 2) for name, pid in pids.items()
    }
    return result


async def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        value = (await conn.execute(text(sql), params)).scalar()
    await engine.dispose()
    return value


async def wait_applied(url: str, timeout: float = 300.0) -> float:
    """Seconds from now until the workers have applied every queued event (the inbox is empty)."""
    started = time.monotonic()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            while (await conn.execute(text("SELECT count(*) FROM inbound_events"))).scalar():
                if time.monotonic() - started > timeout:
                    return float("inf")
                await asyncio.sleep(0.05)  # polling another process's database state
    finally:
        await engine.dispose()
    return round(time.monotonic() - started, 2)


async def main() -> None:
    args = parse_args(
        __doc__ or "",
        duration=10.0,
        warmup=2.0,
        connections=64,
        threads=2,
        workers=2,
        worker_nice=-1,
    )
    worker_nice = Settings().worker_nice if args.worker_nice < 0 else args.worker_nice
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    script = workdir / "trigger.lua"
    script.write_text(WRK_SCRIPT)
    bench = await Bench.create(args, "ingest", workdir)
    bare: subprocess.Popen[bytes] | None = None
    db = bench.settings.database_url
    try:
        service_id, _ = await bench.policy_and_service([300])
        engine = make_engine(bench.settings)
        async with transaction(make_sessionmaker(engine)) as session:
            _, key = await create_integration_key(
                session=session, service_id=service_id, data=IntegrationKeyCreate(name="bench")
            )
        await engine.dispose()

        # 1. The ceiling, alone on the machine.
        bare, bare_url = await serve_bare_insert(db)
        url = f"{bare_url}/v2/enqueue"
        ceiling = await measure(url, script, args, key=key, mode="new", pids={"bare": bare.pid})
        ceiling["stored"] = await scalar(
            db, "SELECT count(*) FROM bare_events WHERE dedup_key LIKE 'run-%'"
        )
        stop(bare)
        bare = None

        # 2. and 3. Stairway: one API process, the workers paging what it opens.
        bench.stairway.extra_env["STAIRWAY_INGEST_RATE_PER_SECOND"] = "0"
        bench.stairway.extra_env["STAIRWAY_API_RATE_PER_SECOND"] = "0"
        # Like the bare endpoint: no line per request in the access log.
        bench.stairway.extra_env["STAIRWAY_ACCESS_LOG"] = "false"
        bench.stairway.extra_env["STAIRWAY_WORKER_NICE"] = str(worker_nice)
        api = await bench.stairway.start_api(timeout=API_START_SECONDS)
        pids = {"api": api.popen.pid}
        for n in range(args.workers):
            pids[f"worker{n + 1}"] = bench.stairway.start_worker().popen.pid
        url = f"{bench.stairway.base_url}/v2/enqueue"
        pages_before = len(bench.sink.received)
        new = await measure(url, script, args, key=key, mode="new", pids=pids)
        new["pages_delivered_during_run"] = len(bench.sink.received) - pages_before
        new["applied_seconds_after_load"] = await wait_applied(db)
        new["stored"] = await scalar(
            db, "SELECT count(*) FROM incidents WHERE dedup_key LIKE 'run-%'"
        )
        # Every incident (warm-up and run) pages once; the next phase starts when all have.
        opened = await scalar(db, "SELECT count(*) FROM incidents")
        started = time.monotonic()
        try:
            await bench.sink.wait_for(lambda: len(bench.sink.received) >= opened, 600)
        except TimeoutError:
            pass
        new["all_paged_seconds_after_load"] = round(
            time.monotonic() - started + new["applied_seconds_after_load"], 2
        )
        new["pages_delivered"] = len(bench.sink.received) - pages_before
        # The warm-up opens the incident; every later event is one more alert on it.
        alerts = "SELECT alert_count FROM incidents WHERE dedup_key = 'bench-dedup'"

        async def applied_alerts() -> Any:
            await wait_applied(db)
            return await scalar(db, alerts)

        dedup = await measure(
            url,
            script,
            args,
            key=key,
            mode="dedup",
            pids=pids,
            after_warmup=applied_alerts,
        )
        dedup["applied_seconds_after_load"] = await wait_applied(db)
        dedup["stored"] = await scalar(db, alerts) - dedup["after_warmup"]
        dedup["incidents_opened"] = await scalar(
            db, "SELECT count(*) FROM incidents WHERE dedup_key = 'bench-dedup'"
        )
    finally:
        if bare is not None:
            stop(bare)
        await bench.close()

    ceiling_eps = ceiling["events_per_second"] or float("nan")
    new_ratio = round(new["events_per_second"] / ceiling_eps, 3)
    dedup_ratio = round(dedup["events_per_second"] / ceiling_eps, 3)
    new_met = new_ratio >= NEW_TARGET_RATIO and new["p99_ms"] <= NEW_TARGET_P99_MS
    dedup_met = dedup_ratio >= DEDUP_TARGET_RATIO
    result = {
        "connections": args.connections,
        "wrk_threads": args.threads,
        "seconds_per_phase": args.duration,
        "worker_processes": args.workers,
        "worker_nice": worker_nice,
        "bare_ceiling": ceiling,
        "stairway_new_incidents": new,
        "stairway_dedup_hits": dedup,
        "new_ratio": new_ratio,
        "dedup_ratio": dedup_ratio,
        "targets": {
            "new_ratio": NEW_TARGET_RATIO,
            "new_p99_ms": NEW_TARGET_P99_MS,
            "dedup_ratio": DEDUP_TARGET_RATIO,
        },
        "met": {"new_incidents": new_met, "dedup_hits": dedup_met},
    }

    def row(name: str, r: dict[str, Any]) -> tuple[str, str]:
        return (
            name,
            f"{r['events_per_second']:>8} ev/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
            f"max {r['max_ms']} ms  non-2xx {r['non_2xx']}  socket errors {r['socket_errors']}  "
            f"stored {r['stored']}  cpu {r['cpu_cores_used']}  wrk cpu {r['wrk_cpu_cores']}  "
            f"all applied {r.get('applied_seconds_after_load', 0)} s after the load"
            + (
                f", all paged {r['all_paged_seconds_after_load']} s after"
                if "all_paged_seconds_after_load" in r
                else ""
            ),
        )

    def verdict(met: bool) -> str:
        return "met" if met else "NOT MET"

    print_table(
        f"/v2/enqueue triggers, {args.connections} connections, {args.duration:g} s each (wrk); "
        f"{args.workers} workers at nice {worker_nice}",
        [
            row("bare FastAPI + asyncpg INSERT", ceiling),
            row("stairway, new incidents", new),
            row("stairway, dedup hits", dedup),
            ("pages delivered during new run", new["pages_delivered_during_run"]),
            (
                "new incidents / ceiling",
                f"{new_ratio:.0%} (target >= {NEW_TARGET_RATIO:.0%}), p99 {new['p99_ms']} ms "
                f"(target <= {NEW_TARGET_P99_MS:g}): {verdict(new_met)}",
            ),
            (
                "dedup hits / ceiling",
                f"{dedup_ratio:.0%} (target >= {DEDUP_TARGET_RATIO:.0%}): {verdict(dedup_met)}",
            ),
        ],
    )
    write_result("ingest", result)


if __name__ == "__main__":
    run(main)
