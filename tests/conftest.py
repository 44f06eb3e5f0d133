"""Shared fixtures: real PostgreSQL (a fresh migrated database), real Redis, a real arq worker."""

import asyncio
import os
import shutil
import socket
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from alembic import command
from alembic.config import Config
from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.worker import Worker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.bootstrap import create_admin_key
from app.config import Settings
from app.main import create_app
from app.models import metadata
from tests.factories import Api
from tests.notify.services import Services
from tests.provider_support import MailSink, notify_settings
from tests.support import HttpSink, JobTracker
from workers.main import StairwayWorker, make_worker

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql+asyncpg://root@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "unix" or not parts.hostname:
        return True
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _open_temp_dir(prefix: str) -> Path:
    """A fresh directory in the system's temp dir that other OS accounts may traverse.

    Embedded PostgreSQL runs as an unprivileged account when the tests run as root, so its data
    cannot live under pytest's basetemp: pytest makes that tree's root private again whenever
    another pytest session starts on the machine, cutting a running server off its files.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture
def server_tmp_path() -> Iterator[Path]:
    """Like tmp_path, for tests that start embedded servers (see _open_temp_dir)."""
    path = _open_temp_dir("stairway-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """The PostgreSQL and Redis URLs to test against; embedded ones if none is reachable."""
    database_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
    embedded = None
    if not (_reachable(database_url, 5432) and _reachable(redis_url, 6379)):
        from app.embedded import start_embedded

        home = _open_temp_dir("stairway-embedded-")
        embedded = start_embedded(home)
        if not _reachable(database_url, 5432):
            database_url = embedded.database_url
        if not _reachable(redis_url, 6379):
            redis_url = embedded.redis_url
    yield database_url, redis_url
    if embedded is not None:
        embedded.stop()
        shutil.rmtree(home, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def database_url(servers: tuple[str, str]) -> Iterator[str]:
    """A fresh database, migrated with Alembic once for the session."""
    admin_url, _ = servers
    name = f"stairway_test_{os.getpid()}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(admin_url, name)
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
async def sink() -> AsyncIterator[HttpSink]:
    server = HttpSink()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def services() -> AsyncIterator[Services]:
    server = Services()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def smtp() -> AsyncIterator[MailSink]:
    server = MailSink(username="stairway", password="smtp-test-password")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    servers: tuple[str, str],
    sink: HttpSink,
    smtp: MailSink,
    services: Services,
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=servers[1],
        queue_name=f"stairway:test:{uuid.uuid4().hex[:8]}",
        public_url="http://stairway.test",
        worker_poll_delay_seconds=0.01,
        sweeper_interval_seconds=1,
        heartbeat_check_interval_seconds=1,
        sweeper_grace_seconds=3.0,
        delivery_timeout_seconds=2.0,
        delivery_backoff_base_seconds=0.05,
        delivery_backoff_max_seconds=0.2,
        delivery_max_attempts=3,
        max_body_bytes=256 * 1024,
        # Off for the suite (tests/security/test_limits.py installs a small bucket of its own).
        api_rate_per_second=0.0,
        # The sinks the suite delivers to listen on loopback.
        allow_private_webhook_targets=True,
        db_pool_size=10,
        # On-call notices would reach the sinks of unrelated tests; tests/schedules turns them on
        # for workers of their own.
        oncall_notices=False,
        coverage_gap_days=0,
        **notify_settings(sink, smtp, services),
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def jobs(app: Any) -> JobTracker:
    return JobTracker(app.state.sessions)


@pytest.fixture
async def worker(
    settings: Settings, app: Any, jobs: JobTracker, clean_database: None
) -> AsyncIterator[Worker]:
    """A real arq worker on the real Redis, in this event loop, for this test only.

    It starts after the tables are emptied and is stopped, with every job it runs, before the
    next test empties them: no job of one test ever touches another test's rows.
    """
    arq_worker = make_worker(settings, after_job_end=jobs.finished)
    task = asyncio.create_task(arq_worker.async_run())
    yield arq_worker
    await stop_worker(arq_worker, task)


# How long a test's running jobs get to finish before they are cancelled at its end.
JOB_GRACE_SECONDS = 1.0


async def stop_worker(arq_worker: StairwayWorker, task: asyncio.Task[None]) -> None:
    """Stop taking jobs, give running ones a moment to finish, cancel the rest, await all."""
    arq_worker.allow_pick_jobs = False
    # A read of the queue under way (the poll loop's, or an early one a job asked for) could
    # still start a job it had read: both end before the running jobs are collected.
    await arq_worker.stop_poking()
    running = [job for job in arq_worker.tasks.values() if not job.done()]
    if running:
        await asyncio.wait(running, timeout=JOB_GRACE_SECONDS)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for job in arq_worker.tasks.values():
        job.cancel()  # a cancelled job's transaction rolls back; asyncpg cancels its query
    await asyncio.gather(task, *arq_worker.tasks.values(), return_exceptions=True)
    # Every job has ended: close() now only runs on_shutdown (engine, HTTP client) and the pool.
    arq_worker.tasks.clear()
    with warnings.catch_warnings():  # arq closes its pool with redis's deprecated close()
        warnings.simplefilter("ignore", DeprecationWarning)
        await arq_worker.close()


TABLES = [t.name for t in reversed(metadata.sorted_tables) if t.name != "instance_secrets"]
ARQ_JOB_KEYS = (job_key_prefix, in_progress_key_prefix, retry_key_prefix, result_key_prefix)


async def purge_queue(redis: Any, queue_name: str) -> None:
    """Drop every job queued on this suite's queue (and its keys): no test inherits a job."""
    job_ids = [j.decode() for j in await redis.zrange(queue_name, 0, -1)]
    keys = [prefix + job_id for job_id in job_ids for prefix in ARQ_JOB_KEYS]
    await redis.delete(queue_name, *keys)


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test starts with empty tables and an empty job queue (the migrated schema stays).

    The previous test's worker and jobs have been stopped and awaited by then, so nothing
    else holds a lock on these tables: a wait here is a leak, and fails the test rather than
    hanging it.
    """
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    await purge_queue(application.state.redis, application.state.settings.queue_name)
    async with application.state.engine.begin() as conn:
        await conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    yield


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://stairway.test") as c:
        yield c


@pytest.fixture
async def admin_headers(settings: Settings, app: Any) -> dict[str, str]:
    key = await create_admin_key(settings, email="root@example.com", name="Root")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def api(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> Api:
    """The REST API as an admin, through the app in this process."""
    return Api(client, admin_headers)
