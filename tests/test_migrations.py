"""Alembic migrates an empty database to the models, with no drift left for autogenerate."""

import asyncio
import os
from pathlib import Path
from urllib.parse import urlsplit

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import metadata

ROOT = Path(__file__).resolve().parent.parent


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


async def _drift(url: str) -> list[object]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )
    await engine.dispose()
    return list(diff)


def test_upgrade_head_on_an_empty_database_matches_the_models(
    servers: tuple[str, str],
) -> None:
    admin_url = servers[0]
    name = f"stairway_migrate_{os.getpid()}"
    url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        config = Config(str(ROOT / "alembic.ini"))
        config.attributes["database_url"] = url
        command.upgrade(config, "head")
        assert asyncio.run(_drift(url)) == []
        command.check(config)  # raises if autogenerate would write a new migration
        command.downgrade(config, "base")
        command.upgrade(config, "head")
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
