"""Database engine, sessions and the request-scoped transaction."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
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
from app.queue import Enqueue, take_jobs

# A pooled connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 2.0


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
    """The asyncpg connection under the session, inside the session's transaction.

    The one door to raw asyncpg, for the hot statements of the stores: a statement costs
    ~0.2 ms here and 1-3 ms through the ORM. Parameters are always bound, never formatted in.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    # SQLAlchemy begins the database transaction lazily, at its own first statement: without
    # one, these statements would each commit on their own (and FOR UPDATE would lock nothing).
    if not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
    return driver


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
