"""Console figures: the incident list's server time with 100,000 incidents stored, which index
serves each filter, the delay from an accepted trigger to an open browser, and page weight.

    .venv/bin/python -m bench.console [--incidents 100000] [--requests 40] [--triggers 10]

Real `stairway api` and `stairway worker` processes, real PostgreSQL and Redis, Debian's
Chromium through Playwright. Times are ratios to the budgets (100 ms list p95, 1 s live update,
150 KB page) measured here, since this machine's speed varies from day to day.
"""

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright
from sqlalchemy import event, text

from app.accounts import passwords
from app.db import make_engine, make_sessionmaker, transaction
from app.incidents import service as incidents
from app.store.listing import Involvement
from bench.common import (
    Bench,
    parse_args,
    percentile,
    print_table,
    write_result,
)

LIST_BUDGET_MS = 100.0
LIVE_BUDGET_MS = 1000.0
PAGE_BUDGET_BYTES = 150 * 1024
PASSWORD = "bench password 1"
SERVICES = 5

SEED = """
INSERT INTO incidents (id, service_id, title, severity, urgency, status, source, dedup_key,
  details, alert_count, policy_id, policy_snapshot, escalation_level, escalation_loop,
  step_token, exhausted, escalation_epoch, max_level_reached, created_at, updated_at)
SELECT gen_random_uuid(), (CAST(:services AS uuid[]))[1 + n % :service_count],
  'seeded incident ' || n,
  (ARRAY['critical','error','warning','info'])[1 + n % 4],
  CASE WHEN n % 5 = 0 THEN 'low' ELSE 'high' END,
  CASE WHEN n % 50 = 0 THEN 'triggered' WHEN n % 50 < 5 THEN 'acknowledged' ELSE 'resolved' END,
  'bench', 'seed-' || n, '{"value": 1}'::jsonb, 1, NULL, CAST(:snapshot AS jsonb),
  1, 0, 0, false, 0, 1,
  now() - (n * interval '77 seconds'), now()
FROM generate_series(1, :count) AS n
"""


async def seed(bench: Bench, count: int) -> tuple[list[str], str]:
    """`count` incidents over ~90 days on SERVICES services; a user whose policy names them."""
    api = httpx.AsyncClient(base_url=bench.stairway.base_url, timeout=30)
    from app.bootstrap import create_admin_key

    key = await create_admin_key(bench.settings, email="bench@example.com", name="Bench")
    headers = {"Authorization": f"Bearer {key}"}
    users = (await api.get("/api/v1/users", headers=headers)).json()["items"]
    user_id = users[0]["id"]
    policy = (
        await api.post(
            "/api/v1/escalation-policies",
            headers=headers,
            json={
                "name": "bench",
                "levels": [
                    {"escalate_after_seconds": 600, "targets": [{"type": "user", "id": user_id}]}
                ],
            },
        )
    ).json()
    service_ids = []
    for n in range(SERVICES):
        created = await api.post(
            "/api/v1/services",
            headers=headers,
            json={"name": f"svc-{n}", "escalation_policy_id": policy["id"]},
        )
        service_ids.append(created.json()["id"])
    other = str(uuid.uuid4())
    snapshot = (
        '{"id": null, "name": "bench", "repeat": 0, "levels": [{"escalate_after_seconds": 600, '
        f'"condition": "unacknowledged", "targets": [{{"type": "user", "id": "{other}"}}]}}]}}'
    )
    engine = make_engine(bench.settings)
    async with engine.begin() as conn:
        await conn.execute(
            text(SEED),
            {
                "services": [uuid.UUID(s) for s in service_ids],
                "service_count": SERVICES,
                "snapshot": snapshot,
                "count": count,
            },
        )
        await conn.execute(text("ANALYZE incidents"))
    async with transaction(make_sessionmaker(engine)) as session:
        await passwords.set_password(session=session, user_id=uuid.UUID(user_id), password=PASSWORD)
    await engine.dispose()
    await api.aclose()
    return service_ids, key


async def sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/sign-in")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = await client.post(
        "/sign-in", data={"csrf_token": token, "email": "bench@example.com", "password": PASSWORD}
    )
    assert response.status_code == 303, response.text


async def plans(
    bench: Bench, filters: dict[str, dict[str, Any]], user_id: uuid.UUID
) -> dict[str, str]:
    """The index (or scan) PostgreSQL picks for each filter's query, from EXPLAIN."""
    engine = make_engine(bench.settings)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM incidents" in statement:
            captured.append((statement, params))

    found: dict[str, str] = {}
    sessions = make_sessionmaker(engine)
    for name, kwargs in filters.items():
        captured.clear()
        async with transaction(sessions) as session:
            await incidents.list_incidents(session=session, limit=25, cursor=None, **kwargs)
            statement, params = captured[-1]
            raw = await (await session.connection()).get_raw_connection()
            driver: Any = raw.driver_connection
            rows = await driver.fetch("EXPLAIN " + statement, *params)
        lines = [r[0] for r in rows]
        # Each scan, without its cost estimate: "Index Scan Backward using ix_... on incidents".
        used = [ln.split("(cost=")[0].strip(" ->") for ln in lines if "Scan" in ln]
        found[name] = "; ".join(used) or lines[0].strip()
    await engine.dispose()
    return found


async def list_times(base_url: str, queries: dict[str, str], requests: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await sign_in(client)
        result = {}
        for name, query in queries.items():
            await client.get(f"/incidents?{query}")  # warm
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(f"/incidents?{query}")
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text[:300]
            result[name] = percentile(times, 95)
        return result


async def live_and_weight(bench: Bench, triggers: int, routing_key: str) -> tuple[list[float], int]:
    base = bench.stairway.base_url
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = await browser.new_page()
        weights: list[int] = []
        page.on(
            "response",
            lambda r: weights.append(
                len(r.headers.get("content-length", "0"))
                and int(r.headers.get("content-length", "0"))
            ),
        )
        await page.goto(f"{base}/sign-in")
        await page.get_by_label("Email").fill("bench@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        weights.clear()
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await page.wait_for_url(f"{base}/incidents")
        await page.wait_for_load_state("load")
        weight = await page.evaluate(
            "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
            ".filter(e => !e.name.includes('/events')).reduce((s, e) => s + e.decodedBodySize, 0)"
        )
        delays = []
        async with httpx.AsyncClient(base_url=base) as client:
            for n in range(triggers):
                summary = f"live update {n} {uuid.uuid4().hex[:6]}"
                body = {
                    "routing_key": routing_key,
                    "event_action": "trigger",
                    "payload": {"summary": summary, "source": "bench", "severity": "critical"},
                }
                started = time.perf_counter()
                response = await client.post("/v2/enqueue", json=body)
                assert response.status_code == 202
                await page.get_by_text(summary).wait_for(timeout=10_000)
                delays.append((time.perf_counter() - started) * 1000)
        await browser.close()
    return delays, int(weight)


async def main() -> None:
    args = parse_args(__doc__ or "", incidents=100_000, requests=40, triggers=10)
    workdir = Path(tempfile.mkdtemp(prefix="stairway-bench-console-"))
    bench = await Bench.create(args, "console", workdir)
    try:
        await bench.stairway.start_api()
        bench.stairway.start_worker()
        service_ids, key = await seed(bench, args.incidents)
        async with httpx.AsyncClient(base_url=bench.stairway.base_url) as client:
            headers = {"Authorization": f"Bearer {key}"}
            routing = await client.post(
                f"/api/v1/services/{service_ids[0]}/integration-keys",
                headers=headers,
                json={"name": "bench"},
            )
            routing_key = routing.json()["key"]
            me = (await client.get("/api/v1/users", headers=headers)).json()["items"][0]["id"]
        queries = {
            "open (default)": "",
            "any status": "status=any",
            "triggered": "status=triggered",
            "resolved": "status=resolved",
            "one service, any status": f"status=any&service={service_ids[1]}",
            "low urgency, any status": "status=any&urgency=low",
            "since 24h, any status": "status=any&since=24h",
            "mine, open": "mine=1",
            "mine, any status": "mine=1&status=any",
        }
        p95 = await list_times(bench.stairway.base_url, queries, args.requests)
        mine = Involvement(user_id=uuid.UUID(me))
        filters: dict[str, dict[str, Any]] = {
            "open (default)": {
                "statuses": ["triggered", "acknowledged"],
                "service_ids": [],
                "since": None,
            },
            "any status": {"statuses": [], "service_ids": [], "since": None},
            "triggered": {"statuses": ["triggered"], "service_ids": [], "since": None},
            "resolved": {"statuses": ["resolved"], "service_ids": [], "since": None},
            "one service, any status": {
                "statuses": [],
                "service_ids": [uuid.UUID(service_ids[1])],
                "since": None,
            },
            "low urgency, any status": {
                "statuses": [],
                "service_ids": [],
                "since": None,
                "urgencies": ["low"],
            },
            "mine, open": {
                "statuses": ["triggered", "acknowledged"],
                "service_ids": [],
                "since": None,
                "involving": mine,
            },
            "mine, any status": {
                "statuses": [],
                "service_ids": [],
                "since": None,
                "involving": mine,
            },
        }
        index_by_filter = await plans(bench, filters, uuid.UUID(me))
        delays, weight = await live_and_weight(bench, args.triggers, routing_key)
    finally:
        bench.stairway.stop_all()
    live_p95 = percentile(delays, 95)
    rows = [
        (f"list p95, {k}", f"{v:.1f} ms = {v / LIST_BUDGET_MS:.2f} of budget")
        for k, v in p95.items()
    ]
    rows += [(f"plan, {k}", v) for k, v in index_by_filter.items()]
    rows += [
        ("live update p50", f"{percentile(delays, 50):.0f} ms"),
        ("live update p95", f"{live_p95:.0f} ms = {live_p95 / LIVE_BUDGET_MS:.2f} of budget"),
        (
            "/incidents page weight",
            f"{weight / 1024:.1f} KB = {weight / PAGE_BUDGET_BYTES:.2f} of budget",
        ),
    ]
    print_table(f"Console with {args.incidents:,} incidents stored", rows)
    write_result(
        "console",
        {
            "incidents": args.incidents,
            "list_p95_ms": {k: round(v, 1) for k, v in p95.items()},
            "list_p95_of_budget": {k: round(v / LIST_BUDGET_MS, 2) for k, v in p95.items()},
            "plans": index_by_filter,
            "live_update_ms": {"p50": round(percentile(delays, 50)), "p95": round(live_p95)},
            "live_update_p95_of_budget": round(live_p95 / LIVE_BUDGET_MS, 2),
            "page_weight_bytes": weight,
            "page_weight_of_budget": round(weight / PAGE_BUDGET_BYTES, 2),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
