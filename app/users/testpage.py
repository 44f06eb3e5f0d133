"""Test pages: one page to one contact method, on demand, through the provider real pages use.

The page is a notice of kind "test" (`app/notify/notices.py`, as verification codes and on-call
notices travel), handed to the same provider registry as real pages (`registry.send_page`): same
provider, signing, SSRF guard and rate limits, no buttons to press and no incident behind it.
Every test and its outcome is kept in the audit log, which is also where the profile page reads
the last one from. The console's profile and the API's `POST /users/{id}/contact-methods/{cid}/test`
both send through `send_test_page`.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit_log import record_event
from app.errors import AppError
from app.models import AuditEntry, ContactMethod, User
from app.notify.base import Notice, Outcome, Page, Provider
from app.notify.notices import notice_page
from app.notify.registry import send_page
from app.repository import get_or_404, get_owned_or_404

ACTION = "tested"
RESOURCE = "contact_method"
# One test page per contact method this often: a button is easy to press twice, SMS costs money.
MIN_INTERVAL = timedelta(seconds=10)


class TooSoon(AppError):
    status_code = 429
    code = "rate_limited"


@dataclass(frozen=True, slots=True)
class Trial:
    """A test page's outcome, as the provider answered it."""

    at: datetime
    outcome: str  # sent, transient, permanent or deferred (see app/notify/base.Outcome)
    status_code: int | None
    response: str

    @property
    def sent(self) -> bool:
        """Whether the provider accepted the page."""
        return self.outcome == Outcome.SENT.value

    @property
    def verdict(self) -> str:
        """The outcome as a person reads it."""
        return {
            Outcome.SENT.value: "sent",
            Outcome.DEFERRED.value: "held back",
            Outcome.TRANSIENT.value: "failed (a real page would be retried)",
        }.get(self.outcome, "failed")

    @classmethod
    def of(cls, entry: AuditEntry) -> "Trial":
        """The trial an audit entry records."""
        details = entry.changes
        return cls(
            at=entry.at,
            outcome=str(details.get("outcome", "")),
            status_code=details.get("status_code"),
            response=str(details.get("response", "")),
        )


def test_notice(*, method: ContactMethod, user: User) -> Notice:
    """What a test page says: whose it is and through what; it asks for nothing."""
    name = method.label or method.type
    return Notice(
        kind="test",
        title=f"Test page for {user.name}",
        text=f"This is a test page for {user.name} through the {name} contact method. "
        "Nothing is wrong; no reply is needed.",
    )


def build_test_page(
    *, method: ContactMethod, user: User, fallback_secret: str, now: datetime
) -> Page:
    """The page that carries the test notice, signed as real pages to this method are."""
    return notice_page(
        test_notice(method=method, user=user),
        channel=method.type,
        address=method.address,
        user={"id": str(user.id), "name": user.name},
        idempotency_key=f"test:{method.id}:{now.timestamp()}",
        signing_secret=method.signing_secret or fallback_secret,
    )


async def last_trials(
    *, session: AsyncSession, method_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Trial]:
    """The latest test page of each contact method that had one."""
    ids = list(method_ids)
    if not ids:
        return {}
    latest = (
        select(func.max(col(AuditEntry.seq)))
        .where(col(AuditEntry.resource_type) == RESOURCE, col(AuditEntry.action) == ACTION)
        .where(col(AuditEntry.resource_id).in_(ids))
        .group_by(col(AuditEntry.resource_id))
    )
    query = select(AuditEntry).where(col(AuditEntry.seq).in_(latest))
    return {entry.resource_id: Trial.of(entry) for entry in await session.scalars(query)}


async def send_test_page(
    *,
    session: AsyncSession,
    providers: Mapping[str, Provider],
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    fallback_secret: str,
    now: datetime,
) -> Trial:
    """Page the user's contact method once now and record the provider's answer.

    The one "send a test page" of the console and the API. At most one per contact method per
    MIN_INTERVAL (TooSoon, 429); the caller commits, so the audit entry is kept with the answer.
    """
    user = await get_or_404(session, User, user_id, what="user")
    # Locked: two presses of the button send one test page, the other is told to wait.
    method = await get_owned_or_404(
        session, ContactMethod, method_id, user_id=user_id, what="contact method", lock=True
    )
    previous = (await last_trials(session=session, method_ids=[method.id])).get(method.id)
    if previous is not None and now - previous.at < MIN_INTERVAL:
        wait = int((previous.at + MIN_INTERVAL - now).total_seconds()) + 1
        raise TooSoon(
            f"a test page went to this contact method just now; try again in {wait}s",
            headers={"Retry-After": str(wait)},
        )
    page = build_test_page(method=method, user=user, fallback_secret=fallback_secret, now=now)
    result = await send_page(providers, page)
    trial = Trial(now, result.outcome.value, result.status_code, result.detail)
    entry = record_event(
        session,
        action=ACTION,
        resource_type=RESOURCE,
        resource_id=method.id,
        details={
            "outcome": trial.outcome,
            "status_code": trial.status_code,
            "response": trial.response,
            "channel": method.type,
        },
    )
    entry.at = now  # the clock the interval is measured by
    return trial
