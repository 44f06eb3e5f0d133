"""The embedded PostgreSQL and Redis serve Stairway, stop cleanly and keep their data."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

import psutil
import pytest
import redis.asyncio
from arq.connections import create_pool
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.embedded import EmbeddedServerError, EmbeddedServers, arq_redis_settings, start_embedded


def _running_server_processes(servers: EmbeddedServers, data_dir: Path) -> list[str]:
    """Command lines of live processes serving data_dir (zombies count as stopped)."""
    # PostgreSQL shows its data dir on its command line, redis-server its socket path.
    markers = (str(data_dir.resolve()), unquote(urlsplit(servers.redis_url).path))
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        command_line = " ".join(process.info["cmdline"] or ())
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(
            marker in command_line for marker in markers
        ):
            found.append(command_line)
    return found


async def test_embedded_servers_serve_stop_and_keep_data_across_restarts(
    server_tmp_path: Path,
) -> None:
    servers = start_embedded(server_tmp_path)
    try:
        engine = create_async_engine(servers.database_url)
        async with engine.begin() as connection:
            assert (await connection.execute(text("select 1"))).scalar_one() == 1
            database = await connection.execute(text("select current_database()"))
            assert database.scalar_one() == "stairway"
            await connection.execute(text("create table pages (id int primary key, who text)"))
            await connection.execute(text("insert into pages values (1, 'alice')"))
        await engine.dispose()

        client = redis.asyncio.Redis.from_url(servers.redis_url)
        await client.set("timer", "due")
        assert await client.get("timer") == b"due"
        await client.aclose()

        arq_pool = await create_pool(arq_redis_settings(servers.redis_url))
        assert await arq_pool.get("timer") == b"due"
        await arq_pool.aclose()

        with pytest.raises(EmbeddedServerError, match="in use"):
            start_embedded(server_tmp_path)
        running = _running_server_processes(servers, server_tmp_path)
        assert any("postgres" in line for line in running)
        assert any("redis-server" in line for line in running)
    finally:
        servers.stop()
    servers.stop()
    assert _running_server_processes(servers, server_tmp_path) == []

    restarted = start_embedded(server_tmp_path)
    try:
        engine = create_async_engine(restarted.database_url)
        async with engine.connect() as connection:
            who = await connection.execute(text("select who from pages where id = 1"))
            assert who.scalar_one() == "alice"
        await engine.dispose()

        client = redis.asyncio.Redis.from_url(restarted.redis_url)
        assert await client.get("timer") == b"due"
        await client.aclose()
    finally:
        restarted.stop()
    assert _running_server_processes(restarted, server_tmp_path) == []


@pytest.mark.parametrize(
    ("redis_url", "expected"),
    [
        (
            "redis://:s%40cret@cache.internal:6380/2",
            {"host": "cache.internal", "port": 6380, "database": 2, "password": "s@cret"},
        ),
        (
            "rediss://stairway:pw@redis.example.com?ssl_cert_reqs=none",
            {
                "host": "redis.example.com",
                "port": 6379,
                "username": "stairway",
                "password": "pw",
                "ssl": True,
                "ssl_cert_reqs": "none",
            },
        ),
        (
            "unix:///run/stair%20way/redis.sock?db=3",
            {"unix_socket_path": "/run/stair way/redis.sock", "database": 3, "ssl": False},
        ),
    ],
)
def test_arq_redis_settings_reads_every_url_shape(
    redis_url: str, expected: dict[str, object]
) -> None:
    settings = arq_redis_settings(redis_url)
    assert {name: getattr(settings, name) for name in expected} == expected


def test_arq_redis_settings_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="scheme"):
        arq_redis_settings("http://localhost:6379")
