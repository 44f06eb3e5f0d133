"""Browser sessions kept in PostgreSQL: created at sign-in, read on every console request."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import ConsoleSession, User
from app.security import hash_key

# last_seen_at is written at most this often, so a busy console is not a write per request.
TOUCH_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person behind a console request."""

    user_id: uuid.UUID
    name: str
    email: str
    role: str
    time_zone: str
    csrf_token: str
    token_hash: str


@dataclass(frozen=True, slots=True)
class Started:
    token: str  # goes into the cookie; only its hash is stored
    csrf_token: str


async def start(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    method: str,
    user_agent: str,
    ip: str,
    now: datetime,
    lifetimes: Lifetimes,
) -> Started:
    """A new session for the user (the caller sets the cookie); ended sessions are forgotten."""
    await purge_expired(session=session, now=now, lifetimes=lifetimes)
    token = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=hash_key(token),
            user_id=user_id,
            csrf_token=csrf_token,
            method=method,
            user_agent=user_agent[:512],
            ip=ip[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetimes.absolute,
        )
    )
    await session.flush()
    return Started(token=token, csrf_token=csrf_token)


async def resume(
    *, session: AsyncSession, token: str, now: datetime, lifetimes: Lifetimes
) -> Viewer | None:
    """The viewer of a live session, or None (unknown, idle too long, or past its expiry)."""
    token_hash = hash_key(token)
    row = (
        await session.execute(
            select(ConsoleSession, User)
            .join(User, col(User.id) == col(ConsoleSession.user_id))
            .where(col(ConsoleSession.token_hash) == token_hash)
        )
    ).first()
    if row is None:
        return None
    stored, user = row
    if stored.expires_at <= now or stored.last_seen_at + lifetimes.idle <= now:
        await session.execute(
            delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash)
        )
        return None
    if stored.last_seen_at < now - TOUCH_RESOLUTION:
        await session.execute(
            update(ConsoleSession)
            .where(col(ConsoleSession.token_hash) == token_hash)
            .values(last_seen_at=now)
        )
    return Viewer(
        user_id=user.id,
        name=user.name,
        email=user.email,
        role=user.role,
        time_zone=user.time_zone,
        csrf_token=stored.csrf_token,
        token_hash=token_hash,
    )


async def is_live(
    *, session: AsyncSession, token_hash: str, now: datetime, lifetimes: Lifetimes
) -> bool:
    """Whether the session still exists and has not ended (without counting this as a use)."""
    found = await session.scalar(
        select(col(ConsoleSession.token_hash))
        .where(col(ConsoleSession.token_hash) == token_hash)
        .where(col(ConsoleSession.expires_at) > now)
        .where(col(ConsoleSession.last_seen_at) > now - lifetimes.idle)
    )
    return found is not None


async def end(*, session: AsyncSession, token_hash: str) -> None:
    """Sign this browser out."""
    await session.execute(
        delete(ConsoleSession).where(col(ConsoleSession.token_hash) == token_hash)
    )


async def end_all(*, session: AsyncSession, user_id: uuid.UUID) -> int:
    """Sign the user out everywhere; how many sessions ended."""
    result = await session.execute(
        delete(ConsoleSession)
        .where(col(ConsoleSession.user_id) == user_id)
        .returning(col(ConsoleSession.token_hash))
    )
    return len(result.all())


async def list_for(
    *, session: AsyncSession, user_id: uuid.UUID, now: datetime, lifetimes: Lifetimes
) -> list[ConsoleSession]:
    """The user's live sessions (not idle too long, not past expiry), most recently used first."""
    query = (
        select(ConsoleSession)
        .where(col(ConsoleSession.user_id) == user_id)
        .where(col(ConsoleSession.expires_at) > now)
        .where(col(ConsoleSession.last_seen_at) > now - lifetimes.idle)
        .order_by(col(ConsoleSession.last_seen_at).desc(), col(ConsoleSession.created_at).desc())
    )
    return list((await session.scalars(query)).all())


async def end_one(*, session: AsyncSession, user_id: uuid.UUID, token_hash: str) -> bool:
    """Sign one of the user's browsers out; False if the user has no such session."""
    result = await session.execute(
        delete(ConsoleSession)
        .where(col(ConsoleSession.user_id) == user_id)
        .where(col(ConsoleSession.token_hash) == token_hash)
        .returning(col(ConsoleSession.token_hash))
    )
    return len(result.all()) == 1


async def purge_expired(*, session: AsyncSession, now: datetime, lifetimes: Lifetimes) -> int:
    """Forget every user's sessions that have ended: idle too long or past their absolute expiry.

    Run at each sign-in, so the table holds live sessions and the few that ended since.
    """
    ended = (
        select(col(ConsoleSession.token_hash))
        .where(
            or_(
                col(ConsoleSession.expires_at) <= now,
                col(ConsoleSession.last_seen_at) <= now - lifetimes.idle,
            )
        )
        # Rows another sign-in is sweeping are its to delete: a sign-in never waits for one.
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        delete(ConsoleSession)
        .where(col(ConsoleSession.token_hash).in_(ended.scalar_subquery()))
        .returning(col(ConsoleSession.token_hash))
    )
    return len(result.all())
