"""Trust in a contact method: a code sent through the channel, confirmed by its owner.

Pages go only to verified contact methods. A method is verified when the code it received comes
back (`confirm_code`), when an admin vouches for it (`mark_verified`), or when it is added while
`STAIRWAY_CONTACT_VERIFICATION=trusted`. Changing the address is adding a new method, so a
verified method always points where the code went.
"""

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import ContactMethod, User
from app.notify.base import DeliveryResult, Notice, Outcome, Provider
from app.notify.notices import notice_page
from app.notify.registry import send_page
from app.repository import get_or_404, get_owned_or_404
from app.security import hash_key

CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class CodeSent:
    """What became of a verification code: the provider's outcome, and until when it is good."""

    method: ContactMethod
    outcome: Outcome
    detail: str
    expires_at: datetime | None


def _code_hash(method_id: uuid.UUID, code: str) -> str:
    # Bound to the method, so a code's hash is worth nothing for another method.
    return hash_key(f"{method_id}:{code}")


def verification_notice(code: str, *, ttl_seconds: int) -> Notice:
    """The message a verification code travels in."""
    minutes = max(1, ttl_seconds // 60)
    return Notice(
        kind="verification",
        title="Stairway verification code",
        text=f"Your code is {code}. It is good for {minutes} minutes.",
    )


async def _method(session: AsyncSession, user_id: uuid.UUID, method_id: uuid.UUID) -> ContactMethod:
    # Locked: two confirmations of one code count as two attempts, never as two successes.
    return await get_owned_or_404(
        session, ContactMethod, method_id, user_id=user_id, what="contact method", lock=True
    )


async def send_code(
    *,
    session: AsyncSession,
    providers: dict[str, Provider],
    settings: Settings,
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    now: datetime,
) -> CodeSent:
    """Send a fresh code through the method's channel; an earlier code stops working."""
    user = await get_or_404(session, User, user_id, what="user")
    method = await _method(session, user_id, method_id)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    ttl_seconds = settings.verification_code_ttl_seconds
    page = notice_page(
        verification_notice(code, ttl_seconds=ttl_seconds),
        channel=method.type,
        address=method.address,
        user={"id": str(user.id), "name": user.name},
        idempotency_key=f"verify:{method.id}:{now.timestamp()}",
        signing_secret=method.signing_secret,
    )
    result: DeliveryResult = await send_page(providers, page)
    if result.outcome is not Outcome.SENT:
        return CodeSent(method, result.outcome, result.detail, None)
    method.verification_code_hash = _code_hash(method.id, code)
    method.verification_expires_at = now + timedelta(seconds=ttl_seconds)
    method.verification_attempts = 0
    await session.flush()
    return CodeSent(method, result.outcome, result.detail, method.verification_expires_at)


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The method after a confirmation, and why the code was refused (None: verified)."""

    method: ContactMethod
    refused: str | None = None


async def confirm_code(
    *,
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    code: str,
    now: datetime,
) -> Confirmation:
    """Verify the method if `code` is the one last sent, unexpired and within the attempts.

    A refusal is returned, not raised: a wrong code counts against the attempts, and that count
    must be committed.
    """
    method = await _method(session, user_id, method_id)
    if method.verified_at is not None:
        return Confirmation(method)
    expires_at = method.verification_expires_at
    if not method.verification_code_hash or expires_at is None or expires_at <= now:
        return Confirmation(method, "no code is pending for this contact method: send a new one")
    if method.verification_attempts >= settings.verification_max_attempts:
        return Confirmation(method, "too many wrong codes: send a new one")
    expected = method.verification_code_hash
    if not hmac.compare_digest(expected, _code_hash(method.id, code.strip())):
        method.verification_attempts += 1
        await session.flush()
        left = settings.verification_max_attempts - method.verification_attempts
        return Confirmation(method, f"wrong code ({left} attempts left)")
    _verify(method, by="code", now=now)
    await session.flush()
    return Confirmation(method)


async def mark_verified(
    *, session: AsyncSession, user_id: uuid.UUID, method_id: uuid.UUID, now: datetime
) -> ContactMethod:
    """An admin vouches for a method: it is paged without a code."""
    method = await _method(session, user_id, method_id)
    if method.verified_at is None:
        _verify(method, by="admin", now=now)
        await session.flush()
    return method


def _verify(method: ContactMethod, *, by: str, now: datetime) -> None:
    method.verified_at = now
    method.verified_by = by
    method.verification_code_hash = ""
    method.verification_expires_at = None
    method.verification_attempts = 0
