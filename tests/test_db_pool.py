"""The connection pool hands out no connection the server has closed."""

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings
from app.db import make_engine


async def _backend(engine: AsyncEngine) -> int:
    """The server process behind the connection the pool hands out (returned to it after)."""
    async with engine.connect() as conn:
        pid: int = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def test_a_connection_the_server_closed_is_replaced_before_use(database_url: str) -> None:
    # One pooled connection, used a moment ago: too fresh for the idle ping.
    engine = make_engine(Settings(database_url=database_url, db_pool_size=1, db_max_overflow=0))
    admin = create_async_engine(database_url)
    try:
        first = await _backend(engine)
        async with admin.connect() as conn:
            # As a server restart or an operator's pg_terminate_backend would end it; the
            # backend is gone from pg_stat_activity only after it closed its socket.
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            async with asyncio.timeout(10):
                while (await conn.execute(gone, {"pid": first})).scalar_one():
                    await conn.rollback()  # a fresh snapshot of pg_stat_activity each time

        # The next checkout gets a working connection: the request does not fail.
        assert await _backend(engine) != first
    finally:
        await engine.dispose()
        await admin.dispose()
