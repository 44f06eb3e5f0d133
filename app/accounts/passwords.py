"""Local passwords, hashed with argon2id off the event loop (hashing is slow on purpose)."""

import asyncio
import uuid

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import field_error
from app.models import UserPassword, utcnow

MIN_LENGTH = 10
MAX_LENGTH = 1024
_HASHER = PasswordHash((Argon2Hasher(),))
# Verified when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("stairway: no such account")


def check_new_password(password: str) -> None:
    """Refuse a password too short to resist guessing (or absurdly long)."""
    if len(password) < MIN_LENGTH:
        raise field_error("password", f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise field_error("password", f"must be at most {MAX_LENGTH} characters")


async def set_password(*, session: AsyncSession, user_id: uuid.UUID, password: str) -> None:
    """Store (or replace) the user's password."""
    check_new_password(password)
    password_hash = await asyncio.to_thread(_HASHER.hash, password)
    now = utcnow()
    await session.execute(
        insert(UserPassword)
        .values(user_id=user_id, password_hash=password_hash, updated_at=now)
        .on_conflict_do_update(
            index_elements=["user_id"], set_={"password_hash": password_hash, "updated_at": now}
        )
    )


async def verify(*, session: AsyncSession, user_id: uuid.UUID | None, password: str) -> bool:
    """Whether `password` is the user's; the same work is done for unknown users."""
    stored = await session.get(UserPassword, user_id) if user_id is not None else None
    password_hash = stored.password_hash if stored is not None else _DUMMY_HASH
    matches, new_hash = await asyncio.to_thread(
        _HASHER.verify_and_update, password[:MAX_LENGTH], password_hash
    )
    if matches and stored is not None and new_hash is not None:
        stored.password_hash = new_hash  # stronger parameters since it was set
    return matches and stored is not None
