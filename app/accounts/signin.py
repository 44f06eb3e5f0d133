"""Signing in with a password: rate limited per email and per client, every attempt audited."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.accounts import passwords
from app.audit_log import record_event
from app.models import AuditEntry, User

RESOURCE = "sign_in"
REFUSED = "refused"
SIGNED_IN = "signed_in"
# A client address may fail this many times more than one email may (a shared office NAT).
PER_ADDRESS_FACTOR = 5
_ACCOUNTS = uuid.UUID("9d6c2b1e-6f0a-4b7e-9a51-3c2d7f1e0a11")


def account_key(email: str) -> uuid.UUID:
    """The audit resource id of sign-ins to one email, known account or not."""
    return uuid.uuid5(_ACCOUNTS, email.strip().lower())


@dataclass(frozen=True, slots=True)
class Limits:
    failures_allowed: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class Attempt:
    user: User | None
    refused_because: str | None  # None: signed in


async def find_user(*, session: AsyncSession, email: str) -> User | None:
    """The user with this email (emails are stored lower-case)."""
    return await session.scalar(select(User).where(col(User.email) == email.strip().lower()))


async def _recent_failures(
    session: AsyncSession, *, email: str, ip: str, since: datetime
) -> tuple[int, int]:
    refused = (
        select(func.count())
        .select_from(AuditEntry)
        .where(col(AuditEntry.resource_type) == RESOURCE, col(AuditEntry.action) == REFUSED)
        .where(col(AuditEntry.at) > since)
    )
    by_email = await session.scalar(
        refused.where(col(AuditEntry.resource_id) == account_key(email))
    )
    by_ip = await session.scalar(refused.where(col(AuditEntry.changes)["ip"].astext == ip))
    return int(by_email or 0), int(by_ip or 0)


async def with_password(
    *, session: AsyncSession, email: str, password: str, ip: str, now: datetime, limits: Limits
) -> Attempt:
    """Check the credentials; a refusal is audited and counts towards the rate limit."""
    by_email, by_ip = await _recent_failures(session, email=email, ip=ip, since=now - limits.window)
    user = await find_user(session=session, email=email)
    if by_email >= limits.failures_allowed or by_ip >= limits.failures_allowed * PER_ADDRESS_FACTOR:
        reason = "too many failed sign-ins; try again later"
    elif await passwords.verify(
        session=session, user_id=user.id if user else None, password=password
    ):
        assert user is not None
        record_event(
            session,
            action=SIGNED_IN,
            resource_type=RESOURCE,
            resource_id=account_key(email),
            details={"email": user.email, "method": "password", "ip": ip},
            actor={"type": "user", "id": str(user.id), "name": user.name},
        )
        return Attempt(user=user, refused_because=None)
    else:
        reason = "wrong email or password"
    refuse(session, email=email, ip=ip, method="password", reason=reason)
    return Attempt(user=None, refused_because=reason)


def refuse(session: AsyncSession, *, email: str, ip: str, method: str, reason: str) -> None:
    """Audit a refused sign-in (it counts towards the email's and the address's limit)."""
    record_event(
        session,
        action=REFUSED,
        resource_type=RESOURCE,
        resource_id=account_key(email),
        details={
            "email": email.strip().lower()[:320],
            "method": method,
            "ip": ip,
            "reason": reason,
        },
        actor={"type": "anonymous", "name": ip or "unknown"},
    )


def signed_in(session: AsyncSession, *, user: User, method: str, ip: str) -> None:
    """Audit a successful sign-in by another way than a password."""
    record_event(
        session,
        action=SIGNED_IN,
        resource_type=RESOURCE,
        resource_id=account_key(user.email),
        details={"email": user.email, "method": method, "ip": ip},
        actor={"type": "user", "id": str(user.id), "name": user.name},
    )
