"""Signed, expiring, single-use links that let a person in: invite, password reset, sign-in.

An invite or reset link leads to a form that sets a password; a sign-in link (what
`stairway demo` prints) signs in at once. Each works once: using it records its nonce.
"""

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import User
from app.responders.nonces import use_once
from app.security import make_token, read_token


class Purpose(StrEnum):
    INVITE = "invite"
    RESET = "reset"
    SIGN_IN = "sign-in"

    @property
    def sets_password(self) -> bool:
        """Whether following the link asks for a new password."""
        return self is not Purpose.SIGN_IN


PATH = "/sign-in/link/"


def links_secret(instance_secret: str) -> str:
    """The key of these links, derived so it can never verify an action link (nor the reverse)."""
    return hmac.new(instance_secret.encode(), b"stairway console links", hashlib.sha256).hexdigest()


def issue(*, secret: str, user_id: uuid.UUID, purpose: Purpose, ttl_seconds: int) -> str:
    """A token for the link `PATH + token`."""
    claims = {
        "u": str(user_id),
        "p": purpose.value,
        "n": secrets.token_urlsafe(12),
        "exp": int(time.time()) + ttl_seconds,
    }
    return make_token(secret, claims)


@dataclass(frozen=True, slots=True)
class Link:
    user_id: uuid.UUID
    purpose: Purpose
    expires_at: datetime
    nonce_key: str


def read(*, secret: str, token: str) -> Link | None:
    """The link's content if it is one Stairway issued and it has not expired (used or not)."""
    claims = read_token(secret, token, now=time.time()) if token.isascii() else None
    if claims is None:
        return None
    try:
        purpose = Purpose(str(claims.get("p")))
        user_id = uuid.UUID(str(claims.get("u")))
    except ValueError:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return Link(
        user_id=user_id,
        purpose=purpose,
        expires_at=datetime.fromtimestamp(float(claims["exp"]), UTC),
        nonce_key=f"console-link:{digest}",
    )


async def redeem(*, session: AsyncSession, link: Link) -> User | None:
    """The link's user, marking the link used; None if it was used already or the user is gone."""
    user = await session.get(User, link.user_id)
    if user is None or not await use_once(session, link.nonce_key, expires_at=link.expires_at):
        return None
    return user
