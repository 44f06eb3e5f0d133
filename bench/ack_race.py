"""Acknowledgement-to-silence: 10,000 acks racing the step that would page the next level.

Every incident's level-2 step comes due at some instant over 200 s (50 races/s, about what one
API process acknowledges per second here while the workers page); at that same instant the
benchmark acknowledges it through the real API. Whichever wins, no page may reach the sink
after the acknowledgement committed (the ack's response is sent after its commit). The table
also shows how long after the step's due time each ack was answered: how close the races were.

    python -m bench.ack_race [--incidents 10000 --spread-seconds 200 --workers 2]
"""

import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport

from app.bootstrap import create_admin_key
from bench.common import Bench, parse_args, print_table, run, summary_ms, write_result

ACK_CONNECTIONS = 32


async def main() -> None:
    args = parse_args(
        __doc__ or "", incidents=10_000, spread_seconds=200.0, workers=2, lead_seconds=20.0
    )
    bench = await Bench.create(args, "ack_race", Path(tempfile.mkdtemp(prefix="bench-")))
    acked_at: dict[str, float] = {}
    try:
        service_id, snapshot = await bench.policy_and_service([60, 3600])
        start = datetime.now(UTC) + timedelta(seconds=args.lead_seconds)
        due = sorted(
            start + timedelta(seconds=random.uniform(0, args.spread_seconds))
            for _ in range(args.incidents)
        )
        ids = await bench.seed_escalating(service_id, snapshot, due)
        key = await create_admin_key(bench.settings, email="bench@example.com", name="Bench")
        await bench.stairway.start_api()
        for _ in range(args.workers):
            bench.stairway.start_worker()
        # The client must cost the benchmark's process little: the page sink shares its loop,
        # and a late receive time there could only hide a page that came after an ack.
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=ACK_CONNECTIONS))
        async with httpx.AsyncClient(
            base_url=bench.stairway.base_url,
            transport=transport,
            timeout=httpx.Timeout(120, pool=None),
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            in_flight = asyncio.Semaphore(ACK_CONNECTIONS)

            async def ack(incident_id: object, at: datetime) -> None:
                await asyncio.sleep(max(0.0, at.timestamp() - time.time()))
                async with in_flight:
                    for attempt in range(5):  # acknowledging again is a no-op that says so
                        try:
                            response = await client.post(
                                f"/api/v1/incidents/{incident_id}/acknowledge"
                            )
                            break
                        except httpx.TransportError:
                            if attempt == 4:
                                raise
                response.raise_for_status()
                acked_at[str(incident_id)] = time.time()

            await asyncio.gather(*(ack(i, d) for i, d in zip(ids, due, strict=True)))
        # Anything still in flight lands within a delivery timeout of the last ack.
        await asyncio.sleep(bench.settings.delivery_timeout_seconds + 1)
    finally:
        await bench.close()

    due_of = {str(i): d.timestamp() for i, d in zip(ids, due, strict=True)}
    # How close each race was: the ack's answer (after its commit) minus the step's due time.
    ack_lag = [(at - due_of[i]) * 1000 for i, at in acked_at.items()]
    level2 = [r for r in bench.sink.received if r.path == "/level2"]
    after = [r for r in level2 if r.at > acked_at[r.headers["x-stairway-delivery"].split(":")[0]]]
    result = {
        "incidents": args.incidents,
        "acks": len(acked_at),
        "step_won": len(level2),
        "ack_won": args.incidents - len(level2),
        "pages_after_ack": len(after),
        "ack_answered_after_due": summary_ms(ack_lag),
        "target": 0,
        "met": not after,
    }
    print_table(
        "acknowledgement vs. next-level step races",
        [
            ("races", args.incidents),
            ("step paged level 2 first", result["step_won"]),
            ("ack stopped level 2", result["ack_won"]),
            ("ack answered - step due, p50 / p99", _p50_p99(result["ack_answered_after_due"])),
            ("pages after the ack committed", f"{len(after)}  (target 0)"),
        ],
    )
    write_result("ack_race", result)


def _p50_p99(summary: dict[str, float]) -> str:
    return f"{summary['p50_ms']:.0f} / {summary['p99_ms']:.0f} ms"


if __name__ == "__main__":
    run(main)
