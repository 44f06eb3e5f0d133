"""Shared set-up for the benchmarks: a fresh database, worker processes, a page sink, seeding."""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alembic import command
from alembic.config import Config
from arq import create_pool
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db import make_engine, make_sessionmaker, transaction
from app.escalation.snapshot import PolicySnapshot
from app.models import Incident
from app.paging.wake import wakeups
from app.policies.schemas import Level, PolicyCreate, Target, TargetType
from app.policies.service import create_policy, snapshot_of
from app.queue import arq_enqueuer
from app.redis_url import arq_redis_settings
from app.services.schemas import IntegrationKeyCreate, ServiceCreate
from app.services.service import create_integration_key, create_service
from app.users.schemas import ContactMethodCreate, UserCreate
from app.users.service import add_contact_method, create_user
from bench.procs import serve
from tests.faults.harness import Stairway
from tests.support import HttpSink

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# A busy machine (other suites, other benchmarks) can take this long to start an API process.
API_START_SECONDS = 120.0


def parse_args(description: str, **defaults: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql+asyncpg://root@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    # The smoke tests run each benchmark in a database of their own, beside a real run.
    parser.add_argument("--database-name", default="", help="default: stairway_bench_<name>")
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    return parser.parse_args()


async def fresh_database(admin_url: str, name: str) -> str:
    """Drop and recreate `name` next to `admin_url`, migrate it, return its URL."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    await asyncio.to_thread(command.upgrade, config, "head")
    return url


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1) if values else float("nan"),
        "mean_ms": round(statistics.fmean(values), 1) if values else float("nan"),
    }


def results_dir() -> Path:
    """Where results go: bench/results, or $STAIRWAY_BENCH_RESULTS (the smoke tests' tmp dir)."""
    return Path(os.environ.get("STAIRWAY_BENCH_RESULTS") or RESULTS)


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages: how busy the machine was around the run."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def write_result(name: str, result: dict[str, Any]) -> None:
    results = results_dir()
    results.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "at": datetime.now().astimezone().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_at_end": load_average(),
        },
        **result,
    }
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")


def print_table(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 20))
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


@dataclass
class Bench:
    """A benchmark's world: settings, worker processes and the page sink."""

    settings: Settings
    stairway: Stairway
    sink: HttpSink

    @classmethod
    async def create(cls, args: argparse.Namespace, name: str, workdir: Path) -> "Bench":
        database_name = getattr(args, "database_name", "") or f"stairway_bench_{name}"
        database_url = await fresh_database(args.database_url, database_name)
        queue = f"stairway:bench:{name}:{uuid.uuid4().hex[:6]}"
        settings = Settings(database_url=database_url, redis_url=args.redis_url, queue_name=queue)
        workdir.mkdir(parents=True, exist_ok=True)
        stairway = Stairway(
            database_url=database_url,
            redis_url=args.redis_url,
            workdir=workdir,
            extra_env={
                "STAIRWAY_QUEUE_NAME": queue,
                "STAIRWAY_DB_POOL_SIZE": "20",
                "STAIRWAY_LOG_JSON": "true",
                # Pages go to a loopback sink.
                "STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
                # The benchmarks measure the engine, not the per-key rate limits.
                "STAIRWAY_API_RATE_PER_SECOND": "0",
                "STAIRWAY_INGEST_RATE_PER_SECOND": "0",
                # The product's poll delay, not the fault harness's.
                "STAIRWAY_WORKER_POLL_DELAY_SECONDS": str(Settings().worker_poll_delay_seconds),
                # The product's default, not the fault tests' 1 s (which makes them quick).
                "STAIRWAY_DELIVERY_TIMEOUT_SECONDS": "5",
                "STAIRWAY_SWEEPER_GRACE_SECONDS": "2",
                "STAIRWAY_SWEEPER_INTERVAL_SECONDS": "2",
            },
        )
        sink = HttpSink()
        await sink.start()
        return cls(settings, stairway, sink)

    async def close(self) -> None:
        self.stairway.stop_all()
        await self.sink.stop()

    async def policy_and_service(
        self, delays: Sequence[int], name: str = "bench", sink_url: str = ""
    ) -> tuple[uuid.UUID, PolicySnapshot]:
        """One user per level, each with a webhook to the sink (the in-process one unless
        `sink_url` names another); returns service id, snapshot."""
        engine = make_engine(self.settings)
        async with transaction(make_sessionmaker(engine)) as session:
            levels = []
            for number, delay in enumerate(delays, start=1):
                user = await create_user(
                    session=session,
                    data=UserCreate(name=f"level {number}", email=f"{name}.l{number}@example.com"),
                )
                await add_contact_method(
                    session=session,
                    user_id=user.id,
                    data=ContactMethodCreate(
                        type="webhook",
                        address=f"{sink_url}/level{number}"
                        if sink_url
                        else self.sink.url(f"/level{number}"),
                    ),
                    allow_private=True,  # the sink listens on loopback
                    trusted=True,  # paged at once, as an operator-vouched method is
                )
                levels.append(
                    Level(
                        escalate_after_seconds=delay,
                        targets=[Target(type=TargetType.USER, id=user.id)],
                    )
                )
            policy = await create_policy(
                session=session, data=PolicyCreate(name=name, levels=levels), allow_private=True
            )
            service = await create_service(
                session=session, data=ServiceCreate(name=name, escalation_policy_id=policy.id)
            )
        await engine.dispose()
        return service.id, snapshot_of(policy)

    async def integration_key(self, service_id: uuid.UUID) -> str:
        """A new integration key of the service: its secret."""
        engine = make_engine(self.settings)
        async with transaction(make_sessionmaker(engine)) as session:
            _, key = await create_integration_key(
                session=session, service_id=service_id, data=IntegrationKeyCreate(name="bench")
            )
        await engine.dispose()
        return key

    async def seed_escalating(
        self,
        service_id: uuid.UUID,
        snapshot: PolicySnapshot,
        due_times: Sequence[datetime],
        *,
        arm: bool = True,
    ) -> list[uuid.UUID]:
        """Incidents already at level 1 whose level-2 step comes due at the given instants
        (`arm`: with the wake-ups queued, as the writers of those steps would have left)."""
        engine = make_engine(self.settings)
        first_delay = timedelta(seconds=snapshot.levels[0].escalate_after_seconds)
        ids = [uuid.uuid4() for _ in due_times]
        rows = [
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
                "policy_id": uuid.UUID(snapshot.id) if snapshot.id else None,
                "policy_snapshot": snapshot.to_json(),
                "escalation_level": 1,
                "escalation_loop": 0,
                "level_entered_at": due - first_delay,
                "next_due_at": due,
                "step_token": 1,
                "exhausted": False,
                "created_at": due - first_delay,
                "updated_at": due - first_delay,
            }
            for i, (incident_id, due) in enumerate(zip(ids, due_times, strict=True))
        ]
        async with engine.begin() as conn:
            for start in range(0, len(rows), 1000):
                await conn.execute(insert(Incident).values(rows[start : start + 1000]))
        await engine.dispose()
        if not arm:
            return ids
        pool = await create_pool(
            arq_redis_settings(self.settings.redis_url), default_queue_name=self.settings.queue_name
        )
        # The wake-ups the steps' own writers would have left: one per window of due times.
        await arq_enqueuer(pool)(wakeups(due_times))
        await pool.aclose()
        return ids

    async def escalations(self) -> list[dict[str, Any]]:
        """Every `escalated` timeline entry: incident, level, due instant, lateness."""
        engine = create_async_engine(self.settings.database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT incident_id, at, details FROM timeline_entries "
                    "WHERE type = 'escalated' ORDER BY incident_id, at"
                )
            )
            result = [
                {
                    "incident_id": r[0],
                    "at": r[1],
                    "level": r[2]["level"],
                    "lateness_ms": r[2].get("lateness_ms", 0),
                }
                for r in rows
            ]
        await engine.dispose()
        return result


async def serve_bare_insert(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """The ceiling: `bench/bare_insert.py` in its own process, on a fresh `bare_events` table."""
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS bare_events"))
        await conn.execute(
            text(
                "CREATE TABLE bare_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                " dedup_key text NOT NULL, summary text NOT NULL, body jsonb NOT NULL,"
                " received_at timestamptz NOT NULL DEFAULT now())"
            )
        )
    await engine.dispose()
    env = {"BARE_DSN": database_url.replace("+asyncpg", "")}
    return await asyncio.to_thread(serve, "bench.bare_insert:app", env)


def run(main: Any) -> None:
    """Run a benchmark's async main on uvloop, the way Stairway itself runs."""
    import uvloop

    uvloop.run(main())
