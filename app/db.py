"""Database engine, sessions and the request-scoped transaction."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

import app.audit_log  # noqa: F401  (registers the audit hook on every session)
from app.config import Settings
from app.errors import database_unavailable, is_connection_error
from app.queue import Enqueue, forget_jobs, jobs_asked, take_jobs

# A pooled connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 2.0
# The session's key for a plain pool's connection its raw statements run on instead of its own.
_BOUND = "driver"


def make_engine(settings: Settings) -> AsyncEngine:
    """An asyncpg engine sized for this process."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=1800,
        connect_args={"timeout": settings.db_connect_timeout_seconds},
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a connection before use: always whether the server closed it (free), and with a
    ping when it sat idle in the pool.

    `pool_pre_ping` would cost three round trips (BEGIN, a ping, ROLLBACK) on every checkout,
    a quarter of an acknowledgement's. A server that stops or crashes closes its sockets, and
    the driver sees that while the connection waits in the pool; a connection idle for longer
    than `IDLE_PING_SECONDS` is pinged besides, for the connections a network drops silently.
    A failed check discards the connection and the pool hands out another (three tries).
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _check(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        if record.driver_connection is None or record.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise DisconnectionError(f"an idle connection failed its ping: {error}") from error


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction (or the plain
    pool's connection `pooled_transaction` bound to the session, inside its own).

    The one door to raw asyncpg, for the hot statements of the stores: a statement costs
    ~0.2 ms here and 1-3 ms through the ORM. Parameters are always bound, never formatted in.
    """
    bound = session.info.get(_BOUND)
    if bound is not None:
        return bound
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    # SQLAlchemy begins the database transaction lazily, at its own first statement: without
    # one, these statements would each commit on their own (and FOR UPDATE would lock nothing).
    if not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
    return driver


class FairPool:
    """A plain asyncpg pool whose callers get a connection in the order they asked.

    asyncpg's pool hands a released connection to whoever asks next, even ahead of callers
    already waiting (who then queue again at the back): with more concurrent requests than
    connections, a few requests wait far longer than the rest. A FIFO semaphore of the pool's
    size in front keeps the waiting in arrival order (a quarter of the p99 latency of
    `/v2/enqueue` under 64 connections).
    """

    def __init__(self, pool: Any, size: int, *, timeout_seconds: float) -> None:
        self._pool = pool
        self._turns = asyncio.Semaphore(size)
        self._timeout_seconds = timeout_seconds

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection of the pool, once the callers that asked before have had theirs;
        TimeoutError when none is free within the pool timeout."""
        async with asyncio.timeout(self._timeout_seconds):
            await self._turns.acquire()
        try:
            async with self._pool.acquire(timeout=self._timeout_seconds) as connection:
                yield connection
        finally:
            self._turns.release()

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as connection:
            return await connection.fetchval(query, *args)

    async def close(self) -> None:
        await self._pool.close()


async def open_pool(
    engine: AsyncEngine,
    *,
    max_size: int,
    timeout_seconds: float = 10.0,
    connect_timeout_seconds: float = 60.0,
) -> FairPool:
    """A plain asyncpg pool on the engine's database (connections opened on demand).

    `timeout_seconds`: how long a caller waits for a free connection; `connect_timeout_seconds`:
    how long one connection attempt may take, all hosts of a multi-host URL together.
    """
    _, connect = engine.dialect.create_connect_args(make_url(engine.url))
    pool = await asyncpg.create_pool(
        min_size=0,
        max_size=max_size,
        init=_json_as_documents,
        reset=_keep,
        timeout=connect_timeout_seconds,
        **connect,
    )
    return FairPool(pool, max_size, timeout_seconds=timeout_seconds)


async def _json_as_documents(connection: Any) -> None:
    """JSON in and out as the engine's connections take and give it (`driver_connection`):
    parameters as encoded text, results decoded, so a store reads the same on either."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=str, decoder=json.loads, schema="pg_catalog", format="text"
        )


async def _keep(connection: Any) -> None:
    """Nothing to reset: the pool's callers run autocommit statements or transactions of their
    own (`pooled_transaction`) that leave no session state (asyncpg rolls back, before this, a
    transaction a cancelled caller could not end)."""


@asynccontextmanager
async def pooled_transaction(
    session: AsyncSession, pool: FairPool, enqueue: Enqueue
) -> AsyncIterator[None]:
    """Run the session's raw statements (`driver_connection`) in a transaction of their own on a
    connection of the plain pool; commit it at the end of the block and then enqueue the jobs
    asked for meanwhile (`app.queue.after_commit`).

    For a hot path made only of raw statements: the session's transaction begins lazily, with
    an extra statement, through SQLAlchemy's greenlet bridge; this one begins with a plain
    BEGIN (a tenth of an acknowledgement's API CPU, `bench/ack_throughput.py`). The ORM must
    not be used inside the block: it would write in the session's transaction, not this one.
    A database that cannot be reached is a 503 (`database_unavailable`).
    """
    mark = jobs_asked(session)
    try:
        async with pool.connection() as connection, connection.transaction():
            session.info[_BOUND] = connection
            try:
                yield
            finally:
                del session.info[_BOUND]
    except Exception as exc:
        forget_jobs(session, mark)
        if is_connection_error(exc):
            raise database_unavailable() from exc
        raise
    jobs = take_jobs(session, mark)
    if jobs:
        await enqueue(jobs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], enqueue: Enqueue | None = None
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception, then enqueue follow-ups."""
    async with sessions() as session:
        async with session.begin():
            yield session
        jobs = take_jobs(session)
        if jobs and enqueue is not None:
            await enqueue(jobs)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction; the request dependency is its only owner."""
    async with transaction(request.app.state.sessions, request.app.state.enqueue) as session:
        yield session


# Function scope: the commit happens before the response is sent, so a 2xx means durable.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
