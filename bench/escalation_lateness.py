"""Escalation step lateness: 10,000 incidents whose next steps come due over 20 s (≈500/s).

Each step takes the full path in a real worker process: lock, decide, timeline, outbox,
enqueue, then delivery of the page to a loopback sink. Lateness is fire time minus due time
of level 2 and level 3; drift is how far level 3's entry strays from level 2's due time plus
level 2's delay (0 means lateness never accumulates).

    python -m bench.escalation_lateness [--incidents 10000 --spread-seconds 20 --workers 2]
"""

import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Bench, parse_args, print_table, run, summary_ms, write_result

LEVEL2_DELAY_SECONDS = 25


async def main() -> None:
    args = parse_args(
        __doc__ or "", incidents=10_000, spread_seconds=20.0, workers=2, lead_seconds=20.0
    )
    bench = await Bench.create(args, "lateness", Path(tempfile.mkdtemp(prefix="bench-")))
    try:
        service_id, snapshot = await bench.policy_and_service([60, LEVEL2_DELAY_SECONDS, 3600])
        start = datetime.now(UTC) + timedelta(seconds=args.lead_seconds)
        due = sorted(
            start + timedelta(seconds=random.uniform(0, args.spread_seconds))
            for _ in range(args.incidents)
        )
        ids = await bench.seed_escalating(service_id, snapshot, due)
        for _ in range(args.workers):
            bench.stairway.start_worker()
        expected = 2 * args.incidents
        deadline = args.lead_seconds + args.spread_seconds + LEVEL2_DELAY_SECONDS + 60
        try:
            await bench.sink.wait_for(lambda: len(bench.sink.received) >= expected, deadline)
        except TimeoutError:
            pass  # report what fired; steps that never fired count as late as the wait
        finished = datetime.now(UTC)
        entries = await bench.escalations()
    finally:
        await bench.close()

    fired = [e for e in entries if e["level"] in (2, 3)]
    fired_keys = {(e["incident_id"], e["level"]) for e in fired}
    due_by_incident = dict(zip(ids, due, strict=True))
    unfired = [
        (
            finished - (due_by_incident[i] + timedelta(seconds=(level - 2) * LEVEL2_DELAY_SECONDS))
        ).total_seconds()
        * 1000
        for i in ids
        for level in (2, 3)
        if (i, level) not in fired_keys
        and due_by_incident[i] + timedelta(seconds=(level - 2) * LEVEL2_DELAY_SECONDS) < finished
    ]
    lateness = [e["lateness_ms"] for e in fired] + unfired
    by_incident: dict[object, dict[int, datetime]] = {}
    for e in entries:
        by_incident.setdefault(e["incident_id"], {})[e["level"]] = e["at"]
    drift_ms = [
        abs((levels[3] - levels[2]).total_seconds() - LEVEL2_DELAY_SECONDS) * 1000
        for levels in by_incident.values()
        if 2 in levels and 3 in levels
    ]
    stats = summary_ms(lateness)
    result = {
        "incidents": args.incidents,
        "spread_seconds": args.spread_seconds,
        "workers": args.workers,
        "steps_fired": len(fired),
        "steps_not_fired": len(unfired),
        "steps_per_second": round(args.incidents / args.spread_seconds),
        "lateness": stats,
        "max_drift_ms": round(max(drift_ms), 3) if drift_ms else None,
        "targets": {"p99_ms": 250, "max_ms": 1000, "drift_ms": 0},
        "met": bool(drift_ms)
        and not unfired
        and stats["p99_ms"] <= 250
        and stats["max_ms"] <= 1000
        and max(drift_ms) == 0,
    }
    print_table(
        "escalation step lateness (fire time - due time)",
        [
            ("incidents", args.incidents),
            ("steps fired", len(fired)),
            ("steps due but not fired by the end", len(unfired)),
            ("steps/s offered", result["steps_per_second"]),
            ("worker processes", args.workers),
            ("p50", f"{stats['p50_ms']} ms"),
            ("p99", f"{stats['p99_ms']} ms  (target <= 250)"),
            ("max", f"{stats['max_ms']} ms  (target <= 1000)"),
            ("drift level 2 -> 3", f"{result['max_drift_ms']} ms  (target 0)"),
            ("targets met", result["met"]),
        ],
    )
    write_result("escalation_lateness", result)


if __name__ == "__main__":
    run(main)
