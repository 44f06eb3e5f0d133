"""Paging's jobs: fire the escalation steps that are due, deliver the pages that are due, move
on from a level whose every delivery failed."""

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from app.jobs import Ctx, in_transaction, stopping, transacted
from app.models import utcnow
from app.paging.delivery import (
    BATCH,
    DELIVERIES_JOB,
    LEVEL_FAILED_JOB,
    Delivered,
    deliver_batch,
    delivery_wakeup,
)
from app.paging.due import next_claim, run_due_steps
from app.paging.step import run_level_failed
from app.paging.wake import STEPS_DUE_JOB, step_wakeup, window_end

DELIVERY_RETRY = timedelta(milliseconds=50)
DELIVERY_RUN_SECONDS = 20.0
DELIVERY_LOOPS = 4
BUSY_TRIES = 3
BUSY_JITTER_SECONDS = 0.02


async def escalation_steps_due(ctx: Ctx) -> None:
    """Fire every escalation step due by now, then the window's later ones as they come due."""
    until = window_end(utcnow())
    while True:
        batch = await transacted(ctx, lambda s: run_due_steps(session=s, now=utcnow()))
        now = utcnow()
        at = next_claim(batch, now=now, until=until)
        if at is None:
            return
        if at >= until or stopping(ctx):
            await ctx["enqueue"]([step_wakeup(at)])
            return
        await asyncio.sleep((at - now).total_seconds())


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
    deadline = time.monotonic() + DELIVERY_RUN_SECONDS
    while True:
        deliverer.again = False
        ends = await _delivery_loops(ctx, deadline)
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


async def _delivery_loops(ctx: Ctx, deadline: float) -> list[str]:
    # One loop claims first. Only a full batch means a backlog worth more loops: while one
    # batch waits on PostgreSQL or on its pages' answers, another one can be sending. Loops
    # started together on a few pages would pick the same ones at the same instant, all skip
    # them and wait (a page at idle went out up to tens of milliseconds late).
    first = await _deliver(ctx)
    if first.pages < BATCH:
        return [await _delivery_loop(ctx, deadline, first)]
    loops = [
        asyncio.ensure_future(_delivery_loop(ctx, deadline, first if n == 0 else None))
        for n in range(DELIVERY_LOOPS)
    ]
    try:
        return list(await asyncio.gather(*loops))
    except BaseException:
        # One loop failed (e.g. PostgreSQL went away): the job ends, so do its other loops.
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        raise


async def _delivery_loop(ctx: Ctx, deadline: float, first: Delivered | None = None) -> str:
    tries = 0
    while True:
        delivered, first = first or await _deliver(ctx), None
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
        if time.monotonic() > deadline or stopping(ctx):
            return "budget"  # a fresh job carries on with the backlog


async def _deliver(ctx: Ctx) -> Delivered:
    return await transacted(
        ctx, lambda s: deliver_batch(session=s, now=utcnow(), ctx=ctx["delivery"])
    )


async def level_failed(ctx: Ctx, incident_id: str, level: int, loop: int) -> None:
    """Move on from a level whose every delivery failed permanently."""
    await in_transaction(
        ctx,
        lambda s: run_level_failed(
            session=s, incident_id=uuid.UUID(incident_id), level=level, loop=loop, now=utcnow()
        ),
    )


TASKS = {
    STEPS_DUE_JOB: escalation_steps_due,
    DELIVERIES_JOB: deliveries_due,
    LEVEL_FAILED_JOB: level_failed,
}
