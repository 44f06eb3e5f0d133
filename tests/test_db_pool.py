"""The connection pool hands out no connection the server has closed."""

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db import make_engine


async def test_a_connection_the_server_closed_is_replaced_before_use(database_url: str) -> None:
    # One pooled connection, used a moment ago: too fresh for the idle ping.
    engine = make_engine(Settings(database_url=database_url, db_pool_size=1, db_max_overflow=0))
    admin = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            driver: Any = (await conn.get_raw_connection()).driver_connection
        closed = asyncio.Event()
        driver.add_termination_listener(lambda _: closed.set())
        async with admin.connect() as conn:
            # As a server restart or an operator's pg_terminate_backend would end it.
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        async with asyncio.timeout(10):
            await closed.wait()  # the driver has seen the socket close, as it waits in the pool

        # The next checkout gets a working connection: the request does not fail.
        async with engine.connect() as conn:
            second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first
    finally:
        await engine.dispose()
        await admin.dispose()
