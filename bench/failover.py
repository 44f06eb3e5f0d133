"""Failover: time without service through a Redis Sentinel failover, a PostgreSQL failover to a
synchronous standby, and a rolling restart of 2 API processes and 3 workers.

Each phase runs real servers on loopback ports, a sender posting alerts (about 10/s, each
retried until accepted) and escalating incidents paging a local sink. Figures per phase:
seconds from the fault until the replacement server serves, the longest time between two
accepted alerts (time without service for senders), the longest silence at the page sink,
and counts: alerts lost, pages sent twice, pages after an acknowledgement, sender answers.

    python -m bench.failover [--promote-after-seconds 0] [--phases redis,postgres,rolling]
"""

import asyncio
import itertools
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import fresh_database, parse_args, print_table, run, write_result
from tests.faults.harness import SMALL_POOLS, Stairway, eventually, free_port
from tests.faults.replicas import SentinelRedis, StreamingPostgres
from tests.faults.scenario import Storm
from tests.faults.traffic import Responder, Sender
from tests.support import HttpSink

SEND_PAUSE_SECONDS = 0.1


def _longest_silence(times: list[float], after: float) -> float:
    """The longest gap between consecutive instants, counting from the one before `after`."""
    times = sorted(times)
    start = max((i for i, t in enumerate(times) if t <= after), default=0)
    tail = times[start:]
    return round(max((b - a for a, b in itertools.pairwise(tail)), default=0.0), 2)


async def _ready(base_url: str) -> bool:
    try:
        async with httpx.AsyncClient() as c:
            return (await c.get(f"{base_url}/readyz")).status_code == 200
    except httpx.TransportError:
        return False


def page_counts(storm: Storm) -> dict[str, int]:
    """Pages at the sink; re-sends of one page (same idempotency key); levels paged twice."""
    keys = storm.keys()
    per_level = Counter(tuple(key.split(":")[i] for i in (0, 3, 4)) for key in keys)
    return {
        "pages": sum(keys.values()),
        # A page in flight when its transaction was cut off goes again under the same key
        # (X-Stairway-Delivery): a receiver that dedups on it shows it once.
        "pages_resent_same_key": sum(n - 1 for n in keys.values()),
        # Two different pages for the same incident, level and target: someone paged twice.
        "targets_paged_twice": sum(1 for n in per_level.values() if n > 1),
    }


async def _settle(storm: Storm, sender: Sender, sending: "asyncio.Task[None]") -> dict[str, Any]:
    """Stop sending, wait for every accepted alert's escalation to finish, count what went wrong."""
    sender.running = False
    await sending
    await storm.wait_alerts_opened(sender.accepted, timeout=120)
    await storm.wait_all_paged(timeout=120)
    await storm.wait_all_exhausted(timeout=120)
    return {
        "alerts_accepted": len(sender.accepted),
        "alerts_lost": 0,  # wait_alerts_opened fails otherwise
        "incidents": len(storm.incident_ids),
        **page_counts(storm),
        "sender_answers": {str(k): v for k, v in sorted(sender.statuses().items())},
        "refusals_without_retry_after": len(sender.refusals_without_retry_after()),
        "seconds_without_service": round(sender.longest_gap_seconds(), 2),
    }


async def _with_traffic(
    stairway: Stairway, sink: HttpSink, name: str, fault: Callable[[Sender], Awaitable[float]]
) -> dict[str, Any]:
    storm = Storm(stairway, sink, name)
    await storm.setup(escalate_after_seconds=2)
    sender = Sender(storm, await storm.integration_key(), [stairway.base_url], name=name)
    sending = asyncio.create_task(sender.run(concurrency=1, pause_seconds=SEND_PAUSE_SECONDS))
    await sender.wait_accepted(20)
    fault_at = time.time()
    figures: dict[str, Any] = {"recovered_seconds": round(await fault(sender), 2)}
    await sender.wait_accepted(len(sender.accepted) + 20)
    figures.update(await _settle(storm, sender, sending))
    pages = [r.at for r in sink.received if r.path.startswith(f"/{name}/")]
    figures["longest_page_silence_seconds"] = _longest_silence(pages, fault_at)
    return figures


async def redis_sentinel(args: Any, sink: HttpSink, workdir: Path) -> dict[str, Any]:
    database_url = await fresh_database(args.database_url, "stairway_bench_failover_redis")
    sentinels = SentinelRedis(workdir)
    sentinels.start()
    stairway = Stairway(database_url=database_url, redis_url=sentinels.url, workdir=workdir)
    try:
        await stairway.start_api()
        stairway.start_worker()

        async def kill_master(sender: Sender) -> float:
            killed_at = time.monotonic()
            old = sentinels.kill_master()
            await asyncio.to_thread(sentinels.wait_promoted, old)
            await eventually(lambda: _ready(stairway.base_url), 60, "the API on the new master")
            return time.monotonic() - killed_at

        return await _with_traffic(stairway, sink, "sentinel", kill_master)
    finally:
        stairway.stop_all()
        sentinels.stop()


async def postgres_failover(
    args: Any, redis_url: str, sink: HttpSink, workdir: Path
) -> dict[str, Any]:
    pair = StreamingPostgres()
    pair.start()
    stairway = Stairway(database_url=pair.url(), redis_url=redis_url, workdir=workdir)
    try:
        stairway.migrate()
        await stairway.start_api()
        stairway.start_worker()
        promoted: dict[str, float] = {}

        async def crash_and_promote(sender: Sender) -> float:
            crashed_at = time.monotonic()
            await asyncio.to_thread(pair.crash_primary)
            await asyncio.sleep(args.promote_after_seconds)  # Patroni's detection time
            await asyncio.to_thread(pair.promote_standby)
            promoted["at"] = time.monotonic()
            count = len(sender.accepted)
            await sender.wait_accepted(count + 1)
            return time.monotonic() - crashed_at

        figures = await _with_traffic(stairway, sink, "pgfailover", crash_and_promote)
        figures["promote_after_seconds"] = args.promote_after_seconds
        return figures
    finally:
        stairway.stop_all()
        pair.stop()


async def rolling_restart(
    args: Any, redis_url: str, sink: HttpSink, workdir: Path
) -> dict[str, Any]:
    database_url = await fresh_database(args.database_url, "stairway_bench_failover_rolling")
    stairway = Stairway(
        database_url=database_url, redis_url=redis_url, workdir=workdir, extra_env=SMALL_POOLS
    )
    try:
        apis = [await stairway.start_api(), await stairway.start_api(free_port())]
        workers = [stairway.start_worker() for _ in range(3)]
        urls = [f"http://127.0.0.1:{api.port}" for api in apis]
        storm = Storm(stairway, sink, "rolling")
        await storm.setup(escalate_after_seconds=2)
        sender = Sender(storm, await storm.integration_key(), urls, name="rolling")
        responder = Responder(storm, sink, urls)
        sending = asyncio.create_task(sender.run(concurrency=1, pause_seconds=SEND_PAUSE_SECONDS))
        responding = asyncio.create_task(responder.run())
        await sender.wait_accepted(20)
        started = time.monotonic()
        # Seconds from SIGTERM until the process exited, and until its replacement was up.
        stop_seconds: dict[str, list[float]] = {"api": [], "worker": []}
        for processes in (apis, workers):
            for index, proc in enumerate(processes):
                stopping = time.monotonic()
                await asyncio.to_thread(proc.stop)
                stop_seconds[proc.args[0]].append(round(time.monotonic() - stopping, 2))
                processes[index] = await stairway.restart(proc)
                await sender.wait_accepted(len(sender.accepted) + 5)
        restarted_seconds = time.monotonic() - started
        sender.running = False
        await sending
        await storm.wait_alerts_opened(sender.accepted, timeout=120)
        # Unacknowledged incidents climb all 3 levels (2 s apart): let them finish.
        await asyncio.sleep(8)
        responder.running = False
        await responding
        return {
            "processes_restarted": len(apis) + len(workers),
            "restart_all_seconds": round(restarted_seconds, 2),
            "api_stop_seconds": stop_seconds["api"],
            "worker_stop_seconds": stop_seconds["worker"],
            "alerts_accepted": len(sender.accepted),
            "alerts_lost": 0,  # wait_alerts_opened fails otherwise
            "acknowledged": len(responder.acked_at),
            **page_counts(storm),
            "pages_after_ack": len(responder.pages_after_ack()),
            "sender_answers": {str(k): v for k, v in sorted(sender.statuses().items())},
            "seconds_without_service": round(sender.longest_gap_seconds(), 2),
        }
    finally:
        stairway.stop_all()


async def main() -> None:
    args = parse_args(
        __doc__ or "", promote_after_seconds=0.0, phases="redis,postgres,rolling", keep_logs=0
    )
    phases = set(args.phases.split(","))
    sink = HttpSink()
    await sink.start()
    result: dict[str, Any] = {}
    workdirs = [Path(tempfile.mkdtemp(prefix="bench-failover-")) for _ in range(3)]
    try:
        if "redis" in phases:
            result["redis_sentinel"] = await redis_sentinel(args, sink, workdirs[0])
        if "postgres" in phases:
            result["postgres_failover"] = await postgres_failover(
                args, args.redis_url, sink, workdirs[1]
            )
        if "rolling" in phases:
            result["rolling_restart"] = await rolling_restart(
                args, args.redis_url, sink, workdirs[2]
            )
    finally:
        await sink.stop()
    for phase, figures in result.items():
        print_table(phase, list(figures.items()))
    problems: Counter[str] = Counter()
    for figures in result.values():
        for name in ("alerts_lost", "targets_paged_twice", "pages_after_ack"):
            problems[name] += figures.get(name, 0)
        problems["refusals_without_retry_after"] += figures.get("refusals_without_retry_after", 0)
    result["met"] = not any(problems.values())
    write_result("failover", result)
    if result["met"] and not args.keep_logs:
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"\nprocess logs kept in {', '.join(map(str, workdirs))}")


if __name__ == "__main__":
    run(main)
