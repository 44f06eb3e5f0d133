"""Trigger-to-page latency at idle: an accepted alert → the page's request at the sink.

One `stairway api` and `--workers` `stairway worker` processes with nothing else to do. The
benchmark sends one trigger at a time, alternately through `POST /api/v1/incidents` (answered
with the incident, 201) and `POST /v2/enqueue` (PagerDuty Events v2, answered 202 once queued),
each with a new dedup key, and waits for the page of level 1 at a loopback sink before a short
pause and the next. The first WARM_UP_ROUNDS triggers per route after start are shown apart and
not counted: they take each worker's cold path once (a first statement prepared, a first drain
of the inbox), which is start-up, not idle. Latency is the sink's receive time minus the instant
the trigger's answer arrived (the alert is accepted then: committed to PostgreSQL). The
reference in the same run is a bare POST of the same client to the same sink (the floor of any
page's last hop).

The workers run at the CPU priority `stairway worker` takes by default (STAIRWAY_WORKER_NICE);
`--worker-nice 0` runs them at the API's priority instead.

    python -m bench.page_latency [--triggers 100 --workers 2 --pause-seconds 0.3]
                                 [--worker-nice N]
"""

import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.services.schemas import IntegrationKeyCreate
from app.services.service import create_integration_key
from bench.common import (
    API_START_SECONDS,
    Bench,
    load_average,
    parse_args,
    percentile,
    print_table,
    run,
    summary_ms,
    write_result,
)
from bench.procs import cpu_seconds

TARGET_P99_MS = 100.0
ROUTES = ("/api/v1/incidents", "/v2/enqueue")
# Triggers per route after start, before the measured ones (enough to reach both workers).
WARM_UP_ROUNDS = 4


def trigger(route: str, *, key: str, service_id: str, dedup_key: str) -> dict[str, Any]:
    """The request body of one new alert for `route`."""
    if route == "/v2/enqueue":
        return {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": "latency probe", "source": "bench", "severity": "critical"},
        }
    return {
        "service_id": service_id,
        "title": "latency probe",
        "severity": "critical",
        "dedup_key": dedup_key,
        "source": "bench",
    }


async def main() -> None:
    args = parse_args(__doc__ or "", triggers=100, workers=2, pause_seconds=0.3, worker_nice=-1)
    worker_nice = Settings().worker_nice if args.worker_nice < 0 else args.worker_nice
    bench = await Bench.create(args, "page_latency", Path(tempfile.mkdtemp(prefix="bench-")))
    bench.stairway.extra_env["STAIRWAY_WORKER_NICE"] = str(worker_nice)
    latencies: dict[str, list[float]] = {route: [] for route in ROUTES}
    answered: dict[str, list[float]] = {route: [] for route in ROUTES}
    warm_up: dict[str, list[float]] = {route: [] for route in ROUTES}
    bare: list[float] = []
    try:
        service_id, _ = await bench.policy_and_service([3600])
        engine = make_engine(bench.settings)
        async with transaction(make_sessionmaker(engine)) as session:
            _, key = await create_integration_key(
                session=session, service_id=service_id, data=IntegrationKeyCreate(name="bench")
            )
        await engine.dispose()
        api = await bench.stairway.start_api(timeout=API_START_SECONDS)
        workers = [bench.stairway.start_worker() for _ in range(args.workers)]
        pids = {"api": api.popen.pid} | {
            f"worker{n + 1}": w.popen.pid for n, w in enumerate(workers)
        }
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=bench.stairway.base_url, timeout=30) as client:
            # The first page also waits for the workers to start: not counted.
            first = trigger(ROUTES[0], key=key, service_id=str(service_id), dedup_key="warm-up")
            (await client.post(ROUTES[0], json=first, headers=headers)).raise_for_status()
            await bench.sink.wait_for(lambda: len(bench.sink.received) >= 1, 120)

            async def probe(route: str, dedup_key: str) -> tuple[float, float]:
                """One trigger through `route`: accepted -> page, and the answer's time (ms)."""
                await asyncio.sleep(args.pause_seconds * random.uniform(0.5, 1.5))
                pages = len(bench.sink.received)
                sent = time.time()
                body = trigger(route, key=key, service_id=str(service_id), dedup_key=dedup_key)
                response = await client.post(route, json=body, headers=headers)
                response.raise_for_status()
                accepted = time.time()
                await bench.sink.wait_for(lambda: len(bench.sink.received) > pages, 30)
                page = bench.sink.received[pages]
                assert page.json()["incident"]["dedup_key"] == dedup_key, page.json()
                return (page.at - accepted) * 1000, (accepted - sent) * 1000

            # Each route's first triggers after start take its cold path once per worker
            # (first statements prepared, first use of the inbox's drain): shown, not counted.
            for n in range(WARM_UP_ROUNDS * len(ROUTES)):
                route = ROUTES[n % len(ROUTES)]
                warm_up[route].append((await probe(route, f"warm-up-{n}"))[0])
            load_before = load_average()
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            started = time.monotonic()
            for n in range(args.triggers):
                route = ROUTES[n % len(ROUTES)]
                latency, answer = await probe(route, f"probe-{n}")
                latencies[route].append(latency)
                answered[route].append(answer)
                # The floor: the same client's bare POST to the same sink.
                at = time.time()
                body = trigger(route, key=key, service_id=str(service_id), dedup_key=f"bare-{n}")
                (await client.post(bench.sink.url("/bare"), json=body)).raise_for_status()
                bare.append((time.time() - at) * 1000)
            wall = time.monotonic() - started
            cpu = {
                name: round((cpu_seconds(pid) - cpu_before[name]) / wall, 2)
                for name, pid in pids.items()
            }
    finally:
        await bench.close()

    every = [ms for route in ROUTES for ms in latencies[route]]
    worst_p99 = max(percentile(latencies[route], 99) for route in ROUTES)
    met = worst_p99 <= TARGET_P99_MS
    bare_stats = summary_ms(bare)
    result = {
        "triggers": args.triggers,
        "worker_processes": args.workers,
        "worker_nice": worker_nice,
        "load_average_before": load_before,
        "accepted_to_page": {route: summary_ms(latencies[route]) for route in ROUTES},
        "accepted_to_page_all": summary_ms(every),
        "warm_up_accepted_to_page_ms": {
            route: [round(ms, 1) for ms in warm_up[route]] for route in ROUTES
        },
        "trigger_answered": {route: summary_ms(answered[route]) for route in ROUTES},
        "bare_post_to_sink": bare_stats,
        "cpu_cores_used": cpu,
        "target_p99_ms": TARGET_P99_MS,
        "met": met,
    }
    rows: list[tuple[str, Any]] = []
    for route in ROUTES:
        page, answer = result["accepted_to_page"][route], result["trigger_answered"][route]
        rows.append(
            (
                f"{route}: accepted -> page p50 / p99 / max",
                f"{page['p50_ms']} / {page['p99_ms']} / {page['max_ms']} ms "
                f"(trigger answered p50 {answer['p50_ms']} ms)",
            )
        )
    rows += [
        (
            f"first {WARM_UP_ROUNDS} per route after start, not counted (ms)",
            {route.rsplit("/", 1)[1]: [round(ms) for ms in warm_up[route]] for route in ROUTES},
        ),
        ("bare POST to the sink p50 / p99", f"{bare_stats['p50_ms']} / {bare_stats['p99_ms']} ms"),
        (
            "worst p99",
            f"{worst_p99:.1f} ms (target <= {TARGET_P99_MS:g}): {'met' if met else 'NOT MET'}",
        ),
        ("CPU cores used at idle", cpu),
        ("load average before", load_before),
    ]
    title = f"trigger to page at idle, {args.workers} workers at nice {worker_nice}"
    print_table(f"{title}, {args.triggers} triggers", rows)
    write_result("page_latency", result)


if __name__ == "__main__":
    run(main)
