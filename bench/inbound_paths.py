"""Latency of each inbound path at idle: how long a sender waits for its answer, and how long
after that answer the incident is open.

One `stairway api` process and one `stairway worker` against a fresh database. For each path,
`--alerts` alerts are sent one at a time (each a new incident); the incident's opening is seen
through PostgreSQL's `stairway_incidents` notification (LISTEN), so nothing is polled:
- `inbox`: `POST /v2/enqueue` (PagerDuty Events v2), queued and applied by the worker's drain;
- `request`: `POST /integrations/alertmanager/{key}`, `POST /api/v1/incidents` and
  `POST /v2/alerts` (Opsgenie), applied in the request: the incident is open before the answer.

    python -m bench.inbound_paths [--alerts 50]
"""

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

from bench.common import Bench, parse_args, print_table, run, summary_ms, write_result

Body = Callable[[str, str], tuple[str, dict[str, Any], dict[str, str]]]


def _pagerduty(key: str, dedup: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    payload = {"summary": f"bench {dedup}", "source": "bench", "severity": "critical"}
    body = {"routing_key": key, "event_action": "trigger", "dedup_key": dedup, "payload": payload}
    return "/v2/enqueue", body, {}


def _alertmanager(key: str, dedup: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    alert = {"status": "firing", "labels": {"alertname": dedup}, "fingerprint": dedup}
    body = {"status": "firing", "groupKey": dedup, "alerts": [alert]}
    return f"/integrations/alertmanager/{key}", body, {}


def _rest(key: str, dedup: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    body = {"title": f"bench {dedup}", "dedup_key": dedup}
    return "/api/v1/incidents", body, {"Authorization": f"Bearer {key}"}


def _opsgenie(key: str, dedup: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    body = {"message": f"bench {dedup}", "alias": dedup}
    return "/v2/alerts", body, {"Authorization": f"GenieKey {key}"}


PATHS: dict[str, tuple[str, Body]] = {
    "pagerduty /v2/enqueue": ("inbox", _pagerduty),
    "alertmanager webhook": ("request", _alertmanager),
    "REST /api/v1/incidents": ("request", _rest),
    "opsgenie /v2/alerts": ("request", _opsgenie),
}


async def _measure(
    client: httpx.AsyncClient, listener: Any, key: str, body: Body, alerts: int
) -> dict[str, Any]:
    opened: asyncio.Queue[float] = asyncio.Queue()

    def on_notify(*_: Any) -> None:
        opened.put_nowait(time.perf_counter())

    answers, after = [], []
    await listener.add_listener("stairway_incidents", on_notify)
    try:
        for _ in range(alerts):
            path, payload, headers = body(key, uuid.uuid4().hex)
            sent = time.perf_counter()
            response = await client.post(path, json=payload, headers=headers)
            answered = time.perf_counter()
            assert response.status_code < 300, response.text
            first = await asyncio.wait_for(opened.get(), 30)
            answers.append((answered - sent) * 1000)
            # Negative when the incident opened before the answer left: applied in the request.
            after.append(max(0.0, first - answered) * 1000)
            await asyncio.sleep(0.3)  # the incident's own follow-ups (pages, timeline) pass
            while not opened.empty():
                opened.get_nowait()
    finally:
        await listener.remove_listener("stairway_incidents", on_notify)
    return {"answer_ms": summary_ms(answers), "open_after_answer_ms": summary_ms(after)}


async def main() -> None:
    args = parse_args(__doc__ or "", alerts=50)
    bench = await Bench.create(args, "inbound_paths", Path(tempfile.mkdtemp(prefix="bench-")))
    results: dict[str, Any] = {}
    try:
        service_id, _ = await bench.policy_and_service([300])
        key = await bench.integration_key(service_id)
        await bench.stairway.start_api()
        bench.stairway.start_worker()
        listener = await asyncpg.connect(bench.settings.database_url.replace("+asyncpg", ""))
        async with httpx.AsyncClient(base_url=bench.stairway.base_url, timeout=30) as client:
            # Warm-up, not counted: connections, prepared statements, the worker's first wake.
            await _measure(client, listener, key, _pagerduty, 5)
            for name, (delivery, body) in PATHS.items():
                measured = await _measure(client, listener, key, body, args.alerts)
                results[name] = {"delivery": delivery, **measured}
        await listener.close()
    finally:
        await bench.close()
    rows = []
    for name, result in results.items():
        answer, after = result["answer_ms"], result["open_after_answer_ms"]
        rows.append(
            (
                f"{name} ({result['delivery']})",
                f"answer p50 {answer['p50_ms']} / p99 {answer['p99_ms']} ms; "
                f"open after answer p50 {after['p50_ms']} / p99 {after['p99_ms']} ms",
            )
        )
    print_table("Inbound paths at idle", rows)
    write_result("inbound_paths", {"alerts_per_path": args.alerts, "paths": results})


if __name__ == "__main__":
    run(main)
