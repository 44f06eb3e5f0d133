"""The arq worker: thin job functions that open a transaction and call into app/."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from arq import Retry, cron, func
from arq.worker import Worker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, transaction
from app.errors import is_connection_error
from app.events.delivery import EVENT_JOB
from app.events.delivery import deliver as deliver_webhook_event
from app.incidents.lifecycle import run_ack_timeout, run_auto_resolve
from app.instance import ACTION_LINKS, instance_secret
from app.integrations.drain import drain_batch
from app.integrations.heartbeats.service import check as check_heartbeats
from app.integrations.inbox import INBOX_JOB, inbox_wakeup, oldest_queued
from app.models import utcnow
from app.notify.registry import build_providers, make_http_client
from app.paging.delivery import (
    DELIVERIES_JOB,
    Delivered,
    DeliveryContext,
    deliver_batch,
    delivery_wakeup,
)
from app.paging.due import next_claim, run_due_steps, run_step
from app.paging.step import run_level_failed
from app.paging.sweeper import (
    BATCH,
    FULL_REARM_LIMIT,
    armed_mark,
    missing_jobs,
    overdue_jobs,
    sweep_timers_and_events,
)
from app.paging.wake import DONE_KEY, STEPS_DUE_JOB, done_ids, step_wakeup, window_end
from app.process import keep_out_of_full_collections
from app.queue import (
    ACK_TIMEOUT_JOB,
    AUTO_RESOLVE_JOB,
    DELIVER_JOB,
    LEVEL_FAILED_JOB,
    STEP_JOB,
    Enqueue,
    JobSpec,
    arq_enqueuer,
)
from app.redis_url import (
    WORKER_COMMAND_RETRIES,
    arq_redis_settings,
    is_sentinel_url,
    sentinel_client,
)
from app.responders.slack import SLACK_REPLY_JOB, send_reply
from app.schedules.notices import plan_notices, send_due_notices

log = logging.getLogger(__name__)
Ctx = dict[str, Any]
T = TypeVar("T")
INBOX_RETRY = timedelta(milliseconds=50)
# When an inbound event that failed is tried again (the events of other keys go on meanwhile).
INBOX_FAILURE_RETRY = timedelta(seconds=1)
DELIVERY_RETRY = timedelta(milliseconds=50)
DELIVERY_RUN_SECONDS = 20.0
DELIVERY_LOOPS = 4
BUSY_TRIES = 3
# In a worker's ctx, set once it was told to stop: batch jobs hand their backlog on and return.
# An Event shared by reference, since arq gives each job a copy of the ctx made at its start.
STOPPING = "stopping"
# In a worker's ctx: the worker's `poke` (read the queue now), for the enqueue of its jobs.
POKE = "poke"
BUSY_JITTER_SECONDS = 0.02


async def _in_transaction(ctx: Ctx, work: Callable[[Any], Awaitable[None]]) -> None:
    try:
        # Every log line of the job carries its id (and the ids the job binds itself).
        with structlog.contextvars.bound_contextvars(job_id=ctx.get("job_id")):
            async with transaction(ctx["sessions"], ctx["enqueue"]) as session:
                await work(session)
    except Exception as exc:
        if is_connection_error(exc):
            # PostgreSQL is away: back off; the sweeper re-arms anything whose retries run out.
            raise Retry(defer=2) from exc
        raise


async def _transacted(ctx: Ctx, run: Callable[[Any], Awaitable[T]]) -> T:
    """What `run(session)` returns, run in a transaction of its own (as `_in_transaction`)."""
    result: list[T] = []

    async def work(session: Any) -> None:
        result.append(await run(session))

    await _in_transaction(ctx, work)
    return result[0]


async def escalation_step(ctx: Ctx, incident_id: str, token: int) -> None:
    """Fire the escalation step of an incident for one fencing token."""
    await _in_transaction(
        ctx,
        lambda s: run_step(
            session=s, incident_id=uuid.UUID(incident_id), token=token, now=utcnow()
        ),
    )


def _stopping(ctx: Ctx) -> bool:
    """The worker is shutting down (app/serving.py): a job ends after its current batch."""
    stopping: asyncio.Event | None = ctx.get(STOPPING)
    return stopping is not None and stopping.is_set()


async def escalation_steps_due(ctx: Ctx) -> None:
    """Fire every escalation step due by now, then the window's later ones as they come due."""
    until = window_end(utcnow())
    done: list[str] = ctx.setdefault(DONE_KEY, [])
    while True:
        batch = await _transacted(ctx, lambda s: run_due_steps(session=s, now=utcnow()))
        # The per-incident step jobs this one did the work of (observed by after_job_end hooks).
        done.extend(done_ids(batch.applied))
        now = utcnow()
        at = next_claim(batch, now=now, until=until)
        if at is None:
            return
        if at >= until or _stopping(ctx):
            await ctx["enqueue"]([step_wakeup(at)])
            return
        await asyncio.sleep((at - now).total_seconds())


async def deliver_notification(ctx: Ctx, notification_id: str) -> None:
    """Deliver one outbox row (jobs queued before pages were delivered in batches)."""
    if (await _deliver(ctx, only=uuid.UUID(notification_id))).busy:
        # Its incident was locked (e.g. an ack in progress): the batch deliverer takes it soon.
        await ctx["enqueue"]([delivery_wakeup(utcnow() + DELIVERY_RETRY)])


@dataclass
class Deliverer:
    """The delivery loops of one worker process: one set at a time, however many wake-ups."""

    running: bool = False
    # A wake-up came while the loops ran: pages may have come due after their last claim.
    again: bool = False


async def deliveries_due(ctx: Ctx) -> None:
    """Deliver every page due by now, in a few concurrent loops of batches, until none is.

    A wake-up that finds this process's loops running leaves the work to them: they claim
    once more before they stop. More loops would only contend for the same pages.
    """
    deliverer: Deliverer = ctx["deliverer"]
    if deliverer.running:
        deliverer.again = True
        return
    deliverer.running = True
    try:
        await _run_delivery_loops(ctx)
    finally:
        deliverer.running = False


async def _run_delivery_loops(ctx: Ctx) -> None:
    deliverer: Deliverer = ctx["deliverer"]
    # The per-page delivery jobs this one did the work of (observed by after_job_end hooks).
    done: list[str] = ctx.setdefault(DONE_KEY, [])
    deadline = time.monotonic() + DELIVERY_RUN_SECONDS
    while True:
        deliverer.again = False
        ends = await _delivery_loops(ctx, done, deadline)
        if "budget" in ends or time.monotonic() > deadline:
            # Stay well inside the job timeout: a fresh job carries on with the backlog.
            await ctx["enqueue"]([delivery_wakeup(utcnow(), fresh=True)])
            return
        if deliverer.again:
            continue
        if "busy" in ends:
            # Due pages were skipped (held elsewhere, or their incident locked): look again soon.
            await ctx["enqueue"]([delivery_wakeup(utcnow() + DELIVERY_RETRY)])
        return


async def _delivery_loops(ctx: Ctx, done: list[str], deadline: float) -> list[str]:
    # While one batch waits on PostgreSQL or on its pages' answers, another one can be sending.
    loops = [
        asyncio.ensure_future(_delivery_loop(ctx, done, deadline)) for _ in range(DELIVERY_LOOPS)
    ]
    try:
        return list(await asyncio.gather(*loops))
    except BaseException:
        # One loop failed (e.g. PostgreSQL went away): the job ends, so do its other loops.
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        raise


async def _delivery_loop(ctx: Ctx, done: list[str], deadline: float) -> str:
    tries = 0
    while True:
        delivered = await _deliver(ctx, only=None)
        done.extend(delivered.done)
        if delivered.busy:
            # Due pages were held: by a sibling loop that picked the same ones at the same
            # instant (then they are free again at once), or by an ack. Look again a few
            # times, at random moments so that colliding loops fall out of step.
            tries += 1
            if tries > BUSY_TRIES:
                return "busy"
            await asyncio.sleep(random.uniform(0, BUSY_JITTER_SECONDS))
            continue
        tries = 0
        if not delivered.more:
            return "done"
        if time.monotonic() > deadline or _stopping(ctx):
            return "budget"  # a fresh job carries on with the backlog


async def _deliver(ctx: Ctx, *, only: uuid.UUID | None) -> Delivered:
    return await _transacted(
        ctx, lambda s: deliver_batch(session=s, now=utcnow(), ctx=ctx["delivery"], only=only)
    )


async def level_failed(ctx: Ctx, incident_id: str, level: int, loop: int) -> None:
    """Move on from a level whose every delivery failed permanently."""
    await _in_transaction(
        ctx,
        lambda s: run_level_failed(
            session=s, incident_id=uuid.UUID(incident_id), level=level, loop=loop, now=utcnow()
        ),
    )


async def _timer(
    ctx: Ctx, run: Callable[..., Awaitable[None]], incident_id: str, due_at: str
) -> None:
    instant = datetime.fromisoformat(due_at)
    await _in_transaction(
        ctx,
        lambda s: run(session=s, incident_id=uuid.UUID(incident_id), due_at=instant, now=utcnow()),
    )


async def ack_timeout(ctx: Ctx, incident_id: str, due_at: str) -> None:
    """An acknowledgement lapses (service ack timeout or snooze end): re-trigger at level 1."""
    await _timer(ctx, run_ack_timeout, incident_id, due_at)


async def auto_resolve(ctx: Ctx, incident_id: str, due_at: str) -> None:
    """Resolve an incident left open for its service's auto_resolve_seconds."""
    await _timer(ctx, run_auto_resolve, incident_id, due_at)


async def deliver_event(ctx: Ctx, delivery_id: str) -> None:
    """Deliver one outbound event (webhook subscription outbox row)."""
    await _in_transaction(
        ctx,
        lambda s: deliver_webhook_event(
            session=s,
            delivery_id=uuid.UUID(delivery_id),
            now=utcnow(),
            client=ctx["http"],
            settings=ctx["settings"],
        ),
    )


async def inbound_events_due(ctx: Ctx) -> None:
    """Apply queued inbound alert events, batch after batch, until the inbox is empty."""
    while True:
        drained = await _transacted(ctx, lambda s: drain_batch(session=s))
        if drained.busy:
            # Another worker is draining and may have made its last claim before these events
            # committed: look again shortly.
            await ctx["enqueue"]([inbox_wakeup(utcnow() + INBOX_RETRY)])
            return
        if drained.more:
            if _stopping(ctx):
                await ctx["enqueue"]([inbox_wakeup(utcnow(), fresh=True)])
                return
            continue
        if drained.failed:
            await ctx["enqueue"]([inbox_wakeup(utcnow() + INBOX_FAILURE_RETRY)])
        return


async def slack_reply(ctx: Ctx, response_url: str, text: str, in_channel: bool) -> None:
    """Answer a Slack button click through its response_url."""
    await send_reply(ctx["http"], response_url, text, in_channel)


async def sweeper(ctx: Ctx) -> None:
    """Re-arm overdue work from PostgreSQL that Redis lost or a dead worker holds."""
    settings: Settings = ctx["settings"]
    now = utcnow()
    redis, mark = ctx["redis"], armed_mark(settings.queue_name)
    # A Redis that lost its data lost future timers too: re-arm everything, not just the overdue.
    reset = not await redis.exists(mark)
    async with transaction(ctx["sessions"], ctx["enqueue"]) as session:
        overdue = await overdue_jobs(
            session=session,
            before=None if reset else now - timedelta(seconds=settings.sweeper_grace_seconds),
            limit=FULL_REARM_LIMIT if reset else BATCH,
        )
        await sweep_timers_and_events(
            session=session, now=now, grace_seconds=settings.sweeper_grace_seconds
        )
        queued_since = await oldest_queued(session)
    grace = settings.sweeper_grace_seconds
    stuck_after = {
        STEP_JOB: grace,
        STEPS_DUE_JOB: grace,
        LEVEL_FAILED_JOB: grace,
        DELIVER_JOB: grace + settings.delivery_timeout_seconds,
        DELIVERIES_JOB: grace + settings.delivery_timeout_seconds,
    }
    await ctx["enqueue"](await missing_jobs(redis, overdue, now=now, stuck_after=stuck_after))
    if queued_since is not None and (now - queued_since).total_seconds() > grace:
        # Inbound events wait longer than they should: their wake-up was lost with Redis.
        await ctx["enqueue"]([inbox_wakeup(now, fresh=True)])
    if reset:
        await redis.set(mark, now.isoformat())


async def heartbeat_check(ctx: Ctx) -> None:
    """Open incidents for missed heartbeats (state in PostgreSQL: safe to repeat or overlap)."""
    await _in_transaction(ctx, _check_heartbeats)


async def _check_heartbeats(session: Any) -> None:
    await check_heartbeats(session=session, now=utcnow())


async def oncall_notices(ctx: Ctx) -> None:
    """Write the on-call notices that are due, then send the pending ones."""
    settings: Settings = ctx["settings"]
    await _transacted(ctx, lambda s: plan_notices(session=s, settings=settings, now=utcnow()))
    providers = ctx["delivery"].providers
    await _transacted(
        ctx,
        lambda s: send_due_notices(session=s, providers=providers, settings=settings, now=utcnow()),
    )


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
            deliverer=Deliverer(),
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
    functions = {
        STEP_JOB: escalation_step,
        STEPS_DUE_JOB: escalation_steps_due,
        DELIVER_JOB: deliver_notification,
        DELIVERIES_JOB: deliveries_due,
        LEVEL_FAILED_JOB: level_failed,
        ACK_TIMEOUT_JOB: ack_timeout,
        AUTO_RESOLVE_JOB: auto_resolve,
        EVENT_JOB: deliver_event,
        INBOX_JOB: inbound_events_due,
        SLACK_REPLY_JOB: slack_reply,
    }
    return {
        # arq's WorkerCoroutine protocol is (ctx, *args, **kwargs): typed job signatures never fit.
        "functions": [func(fn, name=name, max_tries=10) for name, fn in functions.items()],  # type: ignore[arg-type]
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

    async def close(self) -> None:
        if self._poke is not None:
            self._poke.cancel()
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
        for job_id in job_ids:
            if not self.allow_pick_jobs:
                return
            await super().start_jobs([job_id])


def make_worker(settings: Settings | None = None, **overrides: Any) -> Worker:
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
