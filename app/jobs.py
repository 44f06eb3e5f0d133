"""What every task module shares: the job's context, its own transaction, the stop signal."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from arq import Retry

from app.db import transaction
from app.errors import is_connection_error

Ctx = dict[str, Any]
T = TypeVar("T")
# In a worker's ctx, set once it was told to stop: batch jobs hand their backlog on and return.
# An Event shared by reference, since arq gives each job a copy of the ctx made at its start.
STOPPING = "stopping"


async def in_transaction(ctx: Ctx, work: Callable[[Any], Awaitable[None]]) -> None:
    """Run `work(session)` in a transaction of its own; its jobs are enqueued after commit."""
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


async def transacted(ctx: Ctx, run: Callable[[Any], Awaitable[T]]) -> T:
    """What `run(session)` returns, run in a transaction of its own (as `in_transaction`)."""
    result: list[T] = []

    async def work(session: Any) -> None:
        result.append(await run(session))

    await in_transaction(ctx, work)
    return result[0]


def stopping(ctx: Ctx) -> bool:
    """The worker is shutting down (app/serving.py): a job ends after its current batch."""
    stop: asyncio.Event | None = ctx.get(STOPPING)
    return stop is not None and stop.is_set()
