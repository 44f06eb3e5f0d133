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


def test_migrate_says_what_it_applied_and_when_the_schema_is_current(
    servers: tuple[str, str],
) -> None:
    from alembic.script import ScriptDirectory

    from app.migrations import script_heads, upgrade

    config = Config(str(ROOT / "alembic.ini"))
    # The quick check reads the same heads from the files as Alembic does by running them.
    assert script_heads(ROOT / "alembic" / "versions") == frozenset(
        ScriptDirectory.from_config(config).get_heads()
    )
    admin_url = servers[0]
    name = f"stairway_upgrade_{os.getpid()}"
    url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        revisions = [r.revision for r in ScriptDirectory.from_config(config).walk_revisions()]
        newest, previous = revisions[0], revisions[1]
        assert upgrade(url) == "applied " + ", ".join(reversed(revisions))
        assert upgrade(url) == "schema is current"
        config.attributes["database_url"] = url
        command.downgrade(config, previous)
        assert upgrade(url) == f"applied {newest}"
        assert asyncio.run(_drift(url)) == []
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _sql(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        result = await conn.execute(text(sql))
        rows = [tuple(r) for r in result] if result.returns_rows else []
    await engine.dispose()
    return rows


def test_contact_methods_paged_before_verification_existed_stay_paged(
    servers: tuple[str, str],
) -> None:
    admin_url = servers[0]
    name = f"stairway_trust_{os.getpid()}"
    url = urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        config = Config(str(ROOT / "alembic.ini"))
        config.attributes["database_url"] = url
        command.upgrade(config, "0011_console_sessions")
        asyncio.run(
            _sql(
                url,
                "INSERT INTO users (id, name, email, role, time_zone, created_at) VALUES "
                "('00000000-0000-0000-0000-000000000001', 'Ada', 'ada@example.com', "
                "'responder', 'UTC', now())",
            )
        )
        asyncio.run(
            _sql(
                url,
                "INSERT INTO contact_methods (id, user_id, type, address, label, signing_secret,"
                " created_at) VALUES ('00000000-0000-0000-0000-000000000002', "
                "'00000000-0000-0000-0000-000000000001', 'sms', '+15550100', '', '', now())",
            )
        )
        command.upgrade(config, "0012_channels_trust")
        [(verified_at, verified_by)] = asyncio.run(
            _sql(url, "SELECT verified_at, verified_by FROM contact_methods")
        )
        assert verified_at is not None
        assert verified_by == "setting"
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
