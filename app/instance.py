"""Per-installation secrets, generated once and kept in PostgreSQL so every process shares them."""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.db import transaction
from app.models import InstanceSecret
from app.security import new_secret

ACTION_LINKS = "action_links"


async def instance_secret(sessions: async_sessionmaker[AsyncSession], name: str) -> str:
    """The named secret, created on first use."""
    async with transaction(sessions) as session:
        await session.execute(
            insert(InstanceSecret)
            .values(name=name, value=new_secret())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await session.scalar(
            select(col(InstanceSecret.value)).where(col(InstanceSecret.name) == name)
        )
    assert value is not None
    return value
