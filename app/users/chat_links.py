"""Linking a chat account (Telegram, Mattermost) to a Stairway user with a one-time code.

The user asks for a code (profile or API), then sends it from the chat account through the chat
itself (`/link CODE` to the Telegram bot, `/stairway link CODE` in Mattermost). Only the holder
of the account can send from it, so the link never rests on a display name. Button presses from
a linked account act as the user while the user exists and may respond.
"""

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.models import ChatIdentity, User
from app.repository import get_or_404
from app.security import hash_key

# The chat services whose accounts are linked to people with a one-time code.
CHAT_KINDS = ("telegram", "mattermost")
# Letters and digits without look-alikes (no 0/O, 1/I/L): easy to type from a phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


# Where the code is sent from: only the holder of the chat account can send it there.
HOW_TO_LINK = {
    "telegram": "Send /link {code} to the Stairway bot in Telegram.",
    "mattermost": "Type /stairway link {code} in Mattermost.",
}


def how_to_link(kind: str, code: str) -> str:
    """What to do with a link code, as the profile and the API say it."""
    return HOW_TO_LINK[kind].format(code=code)


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_at: datetime


def _code_hash(kind: str, code: str) -> str:
    return hash_key(f"{kind}:{code.strip().upper()}")


async def start_link(
    *, session: AsyncSession, user_id: uuid.UUID, kind: str, now: datetime, ttl_seconds: int
) -> LinkCode:
    """A fresh one-time code for linking the user's `kind` account (an earlier one stops)."""
    await get_or_404(session, User, user_id, what="user")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    query = select(ChatIdentity).where(
        col(ChatIdentity.user_id) == user_id, col(ChatIdentity.kind) == kind
    )
    identity = (await session.scalars(query.with_for_update())).first()
    if identity is None:
        identity = ChatIdentity(user_id=user_id, kind=kind)
        session.add(identity)
    identity.link_code_hash = _code_hash(kind, code)
    identity.link_expires_at = now + timedelta(seconds=ttl_seconds)
    await session.flush()
    return LinkCode(code, identity.link_expires_at)


async def complete_link(
    *, session: AsyncSession, kind: str, external_id: str, code: str, now: datetime
) -> User | None:
    """Link the chat account that sent `code` to the code's user; None for a wrong or stale code.

    An account links to one user: linking it again moves it.
    """
    query = select(ChatIdentity).where(
        col(ChatIdentity.kind) == kind,
        col(ChatIdentity.link_code_hash) == _code_hash(kind, code),
        col(ChatIdentity.link_expires_at) > now,
    )
    identity = (await session.scalars(query.with_for_update())).first()
    if identity is None:
        return None
    await session.execute(
        update(ChatIdentity)
        .where(col(ChatIdentity.kind) == kind, col(ChatIdentity.external_id) == external_id)
        .values(external_id=None, linked_at=None)
    )
    identity.external_id = external_id
    identity.linked_at = now
    identity.link_code_hash = ""
    identity.link_expires_at = None
    await session.flush()
    return await session.get(User, identity.user_id)


async def linked_user(*, session: AsyncSession, kind: str, external_id: str) -> User | None:
    """The user a chat account is linked to (a deleted user's links went with them)."""
    query = (
        select(User)
        .join(ChatIdentity, col(ChatIdentity.user_id) == col(User.id))
        .where(col(ChatIdentity.kind) == kind, col(ChatIdentity.external_id) == external_id)
    )
    return (await session.scalars(query)).first()


async def unlink(*, session: AsyncSession, user_id: uuid.UUID, kind: str) -> None:
    """Forget the user's `kind` account: its presses act as nobody."""
    query = select(ChatIdentity).where(
        col(ChatIdentity.user_id) == user_id, col(ChatIdentity.kind) == kind
    )
    for identity in await session.scalars(query):
        await session.delete(identity)
    await session.flush()


async def accounts_of(*, session: AsyncSession, user_id: uuid.UUID) -> dict[str, ChatIdentity]:
    """The user's chat accounts by kind: linked (`linked_at`) or waiting for a code."""
    query = select(ChatIdentity).where(col(ChatIdentity.user_id) == user_id)
    return {identity.kind: identity for identity in await session.scalars(query)}
