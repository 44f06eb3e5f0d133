"""The delivery path without PostgreSQL: COUNT claimed webhook pages rendered and sent to a sink.

    python -m bench.send_path URL COUNT   # prints {"pages": ..., "seconds": ..., ...}

What a worker does with a batch once claimed (`app.paging.delivery.send_claimed`: re-check,
render, sign, send, classify), with its providers and outbound client, in `DELIVERY_LOOPS`
loops of `BATCH` pages as a worker runs them; the claims are made up in memory, so no
statement is run. The delivery benchmark runs it in a process of its own at the worker's CPU
priority, beside the bare POST loop (`bench/bare_post.py`): the share of the bare loop it
reaches is the most a worker could reach with free claims and records.
"""

import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime

from app.config import Settings
from app.notify.registry import build_providers, make_http_client
from app.paging.delivery import BATCH, DeliveryContext, send_claimed
from app.paging.tasks import DELIVERY_LOOPS
from app.store.documents import IncidentRow
from app.store.outbox import Claim, ClaimedPage
from bench.procs import cpu_seconds


def claim(url: str, size: int, now: datetime) -> Claim:
    """A batch as `app.store.outbox.claim` returns it: triggered incidents at level 1, one due
    webhook page each, to a user."""
    incidents, pages = {}, []
    # What a triggered incident at level 1 has not got yet.
    unset = ["next_due_at", "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by"]
    unset += ["snoozed_until", "ack_timeout_at", "auto_resolve_at", "merged_into_id"]
    for n in range(size):
        incident_id = uuid.uuid4()
        incidents[incident_id] = IncidentRow(
            id=incident_id,
            number=n,
            service_id=uuid.uuid4(),
            title=f"bench {n}",
            status="triggered",
            severity="critical",
            urgency="high",
            priority="P1",
            dedup_key=incident_id.hex,
            source="bench",
            details={},
            alert_count=1,
            escalation_level=1,
            escalation_loop=0,
            exhausted=False,
            policy_id=uuid.uuid4(),
            policy_name="bench policy",
            created_at=now,
            updated_at=now,
            **dict.fromkeys(unset),
        )
        pages.append(
            ClaimedPage(
                id=uuid.uuid4(),
                incident_id=incident_id,
                level=1,
                loop=0,
                condition="unacknowledged",
                target_type="user",
                user_id=uuid.uuid4(),
                channel="webhook",
                address=url,
                idempotency_key=f"{incident_id}:0:0:1:0:bench",
                attempts=0,
                created_at=now,
                status="pending",
                due_at=now,
                user_name="Bench User",
                signing_secret=None,
            )
        )
    return Claim(incidents, pages)


async def send(url: str, count: int) -> dict[str, float]:
    settings = Settings(allow_private_webhook_targets=True, delivery_timeout_seconds=5)
    client = make_http_client(settings)
    ctx = DeliveryContext(build_providers(client, settings), settings, "bench-link-secret")
    now = datetime.now(UTC)
    sizes = [min(BATCH, count - start) for start in range(0, count, BATCH)]
    claims = [claim(f"{url}/page", size, now) for size in sizes]
    sent = 0

    async def loop() -> None:
        nonlocal sent
        while claims:
            outcomes = await send_claimed(claims.pop(), now=now, ctx=ctx)
            sent += sum(outcome.status == "sent" for _, outcome in outcomes)

    cpu, start = cpu_seconds(os.getpid()), time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(DELIVERY_LOOPS)))
    seconds, cpu = time.perf_counter() - start, cpu_seconds(os.getpid()) - cpu
    await client.aclose()
    return {
        "pages": sent,
        "seconds": round(seconds, 2),
        "pages_per_second": round(sent / seconds, 1),
        "cpu_cores": round(cpu / seconds, 2),
    }


if __name__ == "__main__":
    import uvloop

    print(json.dumps(uvloop.run(send(sys.argv[1], int(sys.argv[2])))))
