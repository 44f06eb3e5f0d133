"""The connection pools: the engine's hands out no connection the server has closed; the plain
pool hands out connections in the order they were asked for."""

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db import make_engine, open_pool


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


async def test_the_plain_pool_hands_out_connections_in_the_order_asked(app: Any) -> None:
    # Callers asking again as soon as they are answered, as a storm's requests do, on a pool
    # of 4 connections (opened first: a connection still being opened is handed out late).
    callers, calls, size = 32, 20, 4
    pool = await open_pool(app.state.engine, max_size=size)
    await asyncio.gather(*(pool.fetchval("SELECT 1") for _ in range(size)))
    asked = 0
    granted: list[int] = []  # the order each call asked in, as connections are handed out

    async def caller() -> None:
        nonlocal asked
        for _ in range(calls):
            asked += 1
            turn = asked
            async with pool.connection() as connection:
                granted.append(turn)
                await connection.fetchval("SELECT 1")

    try:
        await asyncio.gather(*(caller() for _ in range(callers)))
    finally:
        await pool.close()
    assert len(granted) == callers * calls
    assert granted == sorted(granted)
