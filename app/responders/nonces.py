"""Single use: a link or inbound message acts once; a second use is refused and changes nothing."""

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import UsedNonce


async def use_once(session: AsyncSession, key: str, *, expires_at: datetime) -> bool:
    """Mark `key` used in the caller's transaction; False if it already was (or is being) used."""
    inserted = await session.execute(
        insert(UsedNonce)
        .values(key=key, used_at=func.now(), expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(UsedNonce.key))
    )
    return inserted.scalar_one_or_none() is not None


async def is_used(session: AsyncSession, key: str) -> bool:
    """Whether `key` was used already (for showing a clear page; acting relies on use_once)."""
    return (
        await session.scalar(select(col(UsedNonce.key)).where(col(UsedNonce.key) == key))
        is not None
    )


async def purge_expired(*, session: AsyncSession, now: datetime) -> int:
    """Forget keys that could no longer verify anyway (expired links, stale timestamps)."""
    result = await session.execute(
        delete(UsedNonce).where(col(UsedNonce.expires_at) < now).returning(col(UsedNonce.key))
    )
    return len(result.all())
