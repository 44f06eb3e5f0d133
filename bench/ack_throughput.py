"""Acknowledgements per second of one API process while two workers page 500 steps/s.

One `stairway api` and `--workers` `stairway worker` processes run; incidents whose next step
comes due at `--steps-per-second` keep the workers escalating and paging a loopback sink
(`bench/sink_server.py`, its own process) through the whole measurement. In `--rounds`
interleaved rounds (so that the machine's other load falls on both alike), the same client
(closed loop, `--connections` concurrent requests) drives

- the ceiling: a bare FastAPI endpoint doing one asyncpg INSERT (`bench/bare_insert.py`,
  uvicorn in its own process), and
- Stairway: `POST /api/v1/incidents/{id}/acknowledge` of other open incidents, each once,
  with a responder's API key.

Acks/s counts 200 answers that changed an incident (each is committed: the incident locked,
escalation fenced, pending pages cancelled, timeline entry and outbound event written).
Afterwards the benchmark checks in PostgreSQL that as many incidents are acknowledged, with as
many `acknowledged` timeline entries.

    python -m bench.ack_throughput [--duration 10 --warmup 2 --connections 16 --workers 2]
                                   [--steps-per-second 500] [--profile-api stacks.txt]

`--profile-api` samples the API process with py-spy during the measurement (collapsed stacks,
for flamegraph tools; py-spy is not a dependency of Stairway: `pip install py-spy`).
"""

import asyncio
import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import make_engine, make_sessionmaker, transaction
from app.users.schemas import ApiKeyCreate, Role, UserCreate
from app.users.service import create_api_key, create_user
from bench.common import (
    API_START_SECONDS,
    Bench,
    load_average,
    parse_args,
    print_table,
    run,
    serve_bare_insert,
    write_result,
)
from bench.load import Load, closed_loop
from bench.procs import cpu_seconds, serve, stop

TARGET_ACKS_PER_SECOND = 300
LEVEL1_SECONDS = 60
# Headroom for the acks: each incident is acknowledged once, and the fastest run so far did
# well under this many per second.
ACKS_PER_SECOND_ROOM = 1500

BARE_BODY = json.dumps(
    {"routing_key": "bench", "dedup_key": "ack-ceiling", "payload": {"summary": "ceiling"}}
)


async def responder_key(bench: Bench) -> str:
    engine = make_engine(bench.settings)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            user = await create_user(
                session=session,
                data=UserCreate(name="Ack Bench", email="ack@example.com", role=Role.RESPONDER),
            )
            _, secret = await create_api_key(
                session=session, user_id=user.id, data=ApiKeyCreate(name="bench")
            )
        return secret
    finally:
        await engine.dispose()


async def acknowledge_all(
    base_url: str, key: str, ids: Iterator[uuid.UUID], *, connections: int, seconds: float
) -> Load:
    async def send(http: aiohttp.ClientSession) -> int | None:
        incident_id = next(ids, None)
        if incident_id is None:
            return None
        async with http.post(f"/api/v1/incidents/{incident_id}/acknowledge") as response:
            body = await response.json()
            if response.status == 200 and not body["changed"]:
                return 208  # acknowledged already: not counted as an acknowledgement
            return response.status

    return await closed_loop(
        send,
        base_url=base_url,
        connections=connections,
        seconds=seconds,
        headers={"Authorization": f"Bearer {key}"},
    )


async def bare_inserts(base_url: str, *, connections: int, seconds: float) -> Load:
    async def send(http: aiohttp.ClientSession) -> int:
        async with http.post(
            "/v2/enqueue", data=BARE_BODY, headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
            return response.status

    return await closed_loop(send, base_url=base_url, connections=connections, seconds=seconds)


async def workers_ready(bench: Bench, count: int, timeout: float = 120.0) -> None:
    """Until `count` workers have started polling the queue (each logs it once it does)."""
    deadline = time.monotonic() + timeout
    workers = [p for p in bench.stairway.procs if p.args[:1] == ("worker",)]
    while sum("worker started" in w.log() for w in workers) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the workers did not start")
        await asyncio.sleep(0.1)  # polling other processes' logs


def profile(pid: int, path: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy (not a dependency: `pip install py-spy`) sampling the API, as collapsed stacks."""
    command = ["py-spy", "record", "--format", "raw", "--nonblocking", "-r", "200"]
    command += ["-p", str(pid), "-d", str(max(1, round(seconds))), "-o", path]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


async def pages_so_far(sink_url: str) -> int:
    async with httpx.AsyncClient(base_url=sink_url) as client:
        count: int = (await client.get("/count")).json()["count"]
        return count


async def counts(database_url: str, ids: list[uuid.UUID]) -> dict[str, int]:
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        acked = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM incidents WHERE id = ANY(:ids) "
                    "AND status = 'acknowledged' AND next_due_at IS NULL"
                ),
                {"ids": ids},
            )
        ).scalar_one()
        entries = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM timeline_entries WHERE incident_id = ANY(:ids) "
                    "AND type = 'acknowledged'"
                ),
                {"ids": ids},
            )
        ).scalar_one()
    await engine.dispose()
    return {"incidents_acknowledged": acked, "acknowledged_entries": entries}


async def main() -> None:
    args = parse_args(
        __doc__ or "",
        duration=10.0,
        warmup=2.0,
        rounds=4,
        connections=16,
        workers=2,
        steps_per_second=500,
        lead_seconds=5.0,
        acks_room=ACKS_PER_SECOND_ROOM,
        profile_api="",
    )
    bench = await Bench.create(args, "ack_throughput", Path(tempfile.mkdtemp(prefix="bench-")))
    db = bench.settings.database_url
    sink, sink_url = await asyncio.to_thread(serve, "bench.sink_server:app")
    bare: subprocess.Popen[bytes] | None = None
    try:
        # Incidents waiting to be acknowledged, the API, the workers and the ceiling's server.
        service_id, snapshot = await bench.policy_and_service(
            [LEVEL1_SECONDS, 3600], sink_url=sink_url
        )
        later = datetime.now(UTC) + timedelta(days=1)
        waiting = int(args.acks_room * (args.warmup + args.duration))
        ack_ids = await bench.seed_escalating(service_id, snapshot, [later] * waiting, arm=False)
        key = await responder_key(bench)
        bare, bare_url = await serve_bare_insert(db)
        bench.stairway.extra_env["STAIRWAY_ACCESS_LOG"] = "false"
        api = await bench.stairway.start_api(timeout=API_START_SECONDS)
        workers = [bench.stairway.start_worker() for _ in range(args.workers)]
        await workers_ready(bench, args.workers)
        pids = {"api": api.popen.pid, "bare": bare.pid}
        pids |= {f"worker{n + 1}": w.popen.pid for n, w in enumerate(workers)}
        # Steps coming due throughout, from `start` on.
        start = datetime.now(UTC) + timedelta(seconds=args.lead_seconds)
        paging_seconds = 2 * (args.warmup + args.duration) + 5
        steps = int(args.steps_per_second * paging_seconds)
        due = [start + timedelta(seconds=i / args.steps_per_second) for i in range(steps)]
        await bench.seed_escalating(service_id, snapshot, due)
        await asyncio.sleep(max(0.0, start.timestamp() - time.time()))

        ids = iter(ack_ids)
        api_url, c = bench.stairway.base_url, args.connections
        await bare_inserts(bare_url, connections=c, seconds=args.warmup)
        warmup = await acknowledge_all(api_url, key, ids, connections=c, seconds=args.warmup)
        load_before = load_average()
        # Interleaved rounds: the machine's other load falls on both alike.
        ceiling, acks = Load(), Load()
        cpu = dict.fromkeys(pids, 0.0)
        pages = 0
        round_seconds = args.duration / args.rounds
        spy = profile(api.popen.pid, args.profile_api, args.duration) if args.profile_api else None
        for _ in range(args.rounds):
            before = cpu_seconds(bare.pid)
            ceiling.add(await bare_inserts(bare_url, connections=c, seconds=round_seconds))
            cpu["bare"] += cpu_seconds(bare.pid) - before
            before_all = {name: cpu_seconds(pid) for name, pid in pids.items()}
            pages_before = await pages_so_far(sink_url)
            acks.add(await acknowledge_all(api_url, key, ids, connections=c, seconds=round_seconds))
            pages += await pages_so_far(sink_url) - pages_before
            for name, pid in pids.items():
                if name != "bare":
                    cpu[name] += cpu_seconds(pid) - before_all[name]
        if spy is not None:
            spy.wait()
        left = sum(1 for _ in ids)
        stored = await counts(db, ack_ids[: len(ack_ids) - left])
    finally:
        if bare is not None:
            stop(bare)
        stop(sink)
        await bench.close()

    ceiling_report, ack_report = ceiling.report(), acks.report()
    acks_per_second = ack_report["per_second"]
    ratio = round(acks_per_second / ceiling_report["per_second"], 3)
    api_ms_per_ack = round(cpu["api"] / acks.ok * 1000, 2) if acks.ok else float("nan")
    bare_ms = round(cpu["bare"] / ceiling.ok * 1000, 2) if ceiling.ok else float("nan")
    met = acks_per_second >= TARGET_ACKS_PER_SECOND
    result = {
        "connections": args.connections,
        "rounds": args.rounds,
        "worker_processes": args.workers,
        "steps_per_second_offered": args.steps_per_second,
        "load_average_before": load_before,
        "bare_insert_ceiling": ceiling_report,
        "acknowledgements": ack_report,
        "ratio_to_ceiling": ratio,
        "api_cpu_ms_per_ack": api_ms_per_ack,
        "bare_cpu_ms_per_insert": bare_ms,
        "cpu_per_ack_over_cpu_per_insert": round(api_ms_per_ack / bare_ms, 2),
        "cpu_cores_used_during_acks": {
            k: round(v / acks.seconds, 2) for k, v in cpu.items() if k != "bare"
        },
        "pages_per_second_during_acks": round(pages / acks.seconds, 1),
        "acknowledged_ok_including_warmup": warmup.ok + acks.ok,
        "stored": stored,
        "target_acks_per_second": TARGET_ACKS_PER_SECOND,
        "met": met,
    }
    latency, bare_latency = ack_report["latency"], ceiling_report["latency"]
    print_table(
        f"acknowledgements, one API process, {args.connections} connections, "
        f"{args.workers} workers paging (offered {args.steps_per_second} steps/s)",
        [
            (
                "bare FastAPI + asyncpg INSERT (interleaved)",
                f"{ceiling_report['per_second']} req/s, p99 {bare_latency['p99_ms']} ms",
            ),
            (
                "acknowledgements/s",
                f"{acks_per_second}  (target >= {TARGET_ACKS_PER_SECOND}): "
                f"{'met' if met else 'NOT MET'}",
            ),
            ("acks / ceiling", f"{ratio:.0%}"),
            (
                "ack latency p50 / p99 / max",
                f"{latency['p50_ms']} / {latency['p99_ms']} / {latency['max_ms']} ms",
            ),
            ("other answers", ack_report["statuses"]),
            (
                "API CPU per ack (bare CPU per insert)",
                f"{api_ms_per_ack} ms ({bare_ms} ms): {result['cpu_per_ack_over_cpu_per_insert']}x",
            ),
            ("CPU cores used during acks", result["cpu_cores_used_during_acks"]),
            ("pages/s delivered meanwhile", result["pages_per_second_during_acks"]),
            ("acknowledged in PostgreSQL (incidents, entries)", stored),
            ("acks answered 200 (with warm-up)", result["acknowledged_ok_including_warmup"]),
            ("load average before", load_before),
        ],
    )
    write_result("ack_throughput", result)


if __name__ == "__main__":
    run(main)
