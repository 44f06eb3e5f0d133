"""The arq worker: the jobs of every domain's tasks module, its crons, and its shared resources."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from arq import cron, func
from arq.worker import Worker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.events import tasks as events
from app.incidents import tasks as incidents
from app.instance import ACTION_LINKS, instance_secret
from app.integrations import tasks as integrations
from app.integrations.heartbeats.tasks import heartbeat_check
from app.jobs import STOPPING, Ctx
from app.models import utcnow
from app.notify.registry import build_providers, make_http_client
from app.paging import tasks as paging
from app.paging.delivery import DeliveryContext
from app.process import keep_out_of_full_collections
from app.queue import Enqueue, JobSpec, arq_enqueuer
from app.redis_url import (
    WORKER_COMMAND_RETRIES,
    arq_redis_settings,
    is_sentinel_url,
    sentinel_client,
)
from app.responders import tasks as responders
from app.schedules.tasks import oncall_notices
from workers.sweeper import sweeper

log = logging.getLogger(__name__)
# In a worker's ctx: the worker's `poke` (read the queue now), for the enqueue of its jobs.
POKE = "poke"
# Every job by its name (stable: queued jobs outlive deploys), from each domain's tasks module.
TASKS = {
    **paging.TASKS,
    **incidents.TASKS,
    **events.TASKS,
    **integrations.TASKS,
    **responders.TASKS,
}


def make_startup(settings: Settings) -> Callable[[Ctx], Awaitable[None]]:
    """Build the worker's shared resources: engine, HTTP client, providers."""

    async def startup(ctx: Ctx) -> None:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        client = make_http_client(settings)
        link_secret = settings.secret_key or await instance_secret(sessions, ACTION_LINKS)
        ctx.setdefault(STOPPING, asyncio.Event())
        ctx.update(
            settings=settings,
            engine=engine,
            sessions=sessions,
            http=client,
            enqueue=_poking(arq_enqueuer(ctx["redis"]), ctx.get(POKE)),
            deliverer=paging.Deliverer(),
            delivery=DeliveryContext(
                build_providers(client, settings, ctx["redis"]), settings, link_secret
            ),
        )
        if settings.worker_metrics_port:
            from prometheus_client import start_http_server

            start_http_server(settings.worker_metrics_port)
        keep_out_of_full_collections()

    return startup


async def shutdown(ctx: Ctx) -> None:
    """Release what startup built."""
    if "http" in ctx:
        await ctx["http"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()


def worker_settings(settings: Settings) -> dict[str, Any]:
    """arq settings tuned for paging: many concurrent jobs, short polls, short-lived results."""
    interval = max(1, settings.sweeper_interval_seconds)
    return {
        # arq's WorkerCoroutine protocol is (ctx, *args, **kwargs): typed job signatures never fit.
        "functions": [func(fn, name=name, max_tries=10) for name, fn in TASKS.items()],  # type: ignore[arg-type]
        "cron_jobs": [
            cron(
                sweeper,
                second=set(range(0, 60, interval)),
                run_at_startup=True,
                unique=True,
                timeout=30,
            ),
            cron(
                oncall_notices,
                second=set(range(0, 60, settings.oncall_notice_interval_seconds)),
                run_at_startup=True,
                unique=True,
                timeout=60,
            ),
            cron(
                heartbeat_check,
                second=set(range(0, 60, max(1, settings.heartbeat_check_interval_seconds))),
                run_at_startup=True,
                unique=True,
                timeout=30,
            ),
        ],
        "redis_settings": arq_redis_settings(
            settings.redis_url, command_retries=WORKER_COMMAND_RETRIES
        ),
        "queue_name": settings.queue_name,
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": settings.worker_poll_delay_seconds,
        "job_timeout": settings.worker_job_timeout_seconds,
        "keep_result": 0,
        "max_tries": 10,
        "on_startup": make_startup(settings),
        "on_shutdown": shutdown,
        "handle_signals": False,
        "job_completion_wait": settings.worker_stop_grace_seconds,
    }


def _poking(enqueue: Enqueue, poke: Callable[[], None] | None) -> Enqueue:
    """Enqueue, and have this worker look at its queue at once when a job is due now."""
    if poke is None:
        return enqueue

    async def enqueue_and_poke(jobs: Sequence[JobSpec]) -> None:
        await enqueue(jobs)
        now = utcnow()
        if any(job.defer_until is None or job.defer_until <= now for job in jobs):
            poke()

    return enqueue_and_poke


class StairwayWorker(Worker):
    """An arq worker whose batch jobs hand their backlog on once it is told to stop, and
    that starts a job it queued itself for now at once (`poke`) rather than at its next poll.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._poke: asyncio.Task[None] | None = None
        self._poke_again = False
        self.ctx[POKE] = self.poke

    def poke(self) -> None:
        """Read the queue now: a step's pages or a drained event's incident are due at once,
        and waiting for the next poll would add up to a poll delay to each hop of a page."""
        self._poke_again = True
        if self._poke is None or self._poke.done():
            self._poke = asyncio.ensure_future(self._poked())

    async def _poked(self) -> None:
        while self._poke_again:
            self._poke_again = False
            try:
                await self._poll_iteration()
            except Exception:
                # The regular poll meets the same trouble and handles it (Redis retries).
                log.warning("reading the queue early failed", exc_info=True)
                return

    async def stop_poking(self) -> None:
        """Read the queue early no more, and wait until a read under way has ended: one that
        was starting a job when the worker was told to stop could still start it."""
        self._poke_again = False
        poke, self._poke = self._poke, None
        if poke is not None:
            poke.cancel()
            await asyncio.gather(poke, return_exceptions=True)

    async def close(self) -> None:
        await self.stop_poking()
        await super().close()

    def handle_sig_wait_for_completion(self, signum: Any) -> None:
        self.ctx.setdefault(STOPPING, asyncio.Event()).set()
        running = sorted(job_id for job_id, task in self.tasks.items() if not task.done())
        log.info("stopping: no new jobs, waiting for the running ones", extra={"jobs": running})
        super().handle_sig_wait_for_completion(signum)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        # arq checks allow_pick_jobs once per poll, then starts every job it read (up to
        # max_jobs, one Redis round trip each): a worker behind on its queue kept starting jobs
        # for seconds after it was told to stop.
        # A job this process is running stays in the queue until it ends, and arq would check
        # it in Redis (four round trips) on every poll, 100 times a second: a long delivery run
        # spent a twentieth of the worker's CPU on that. Its in-progress key says the same.
        for job_id in job_ids:
            if not self.allow_pick_jobs:
                return
            running = self.tasks.get(job_id.decode())
            if running is not None and not running.done():
                continue
            await super().start_jobs([job_id])


def make_worker(settings: Settings | None = None, **overrides: Any) -> StairwayWorker:
    """A ready-to-run arq worker."""
    settings = settings or get_settings()
    options = worker_settings(settings)
    if is_sentinel_url(settings.redis_url):
        # arq's own Sentinel client would drop the command retries that ride out a failover.
        options["redis_pool"] = sentinel_client(
            settings.redis_url,
            queue_name=settings.queue_name,
            command_retries=WORKER_COMMAND_RETRIES,
        )
    options.update(overrides)
    return StairwayWorker(**options)


def __getattr__(name: str) -> Any:
    # `arq workers.main.WorkerSettings` works too, built from the environment when asked for.
    if name == "WorkerSettings":
        return type("WorkerSettings", (), worker_settings(get_settings()))
    raise AttributeError(name)
