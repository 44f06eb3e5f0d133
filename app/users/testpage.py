"""Test pages: one page to one contact method, on demand, through the provider real pages use.

The page is built like a real one (`app/notify/base.Page`, the same document shape) and handed to
the same provider registry (`app/notify/registry.send_page`); only the incident is made up
(`"test": true`, number 0, no action links). Every test and its outcome is kept in the audit log,
which is also where the profile page reads the last one from.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit.recorder import record_event
from app.errors import AppError
from app.models import AuditEntry, ContactMethod, User
from app.notify.base import Outcome, Page, Provider
from app.notify.registry import send_page

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


def build_test_page(
    *, method: ContactMethod, user: User, fallback_secret: str, now: datetime
) -> Page:
    """A page about a made-up incident that says it is a test."""
    incident_id = uuid.uuid4()
    stamp = now.isoformat().replace("+00:00", "Z")
    incident: dict[str, Any] = {
        "id": str(incident_id),
        "number": 0,
        "test": True,
        "title": f"Test page for {user.name}: this {method.type} contact method works",
        "status": "triggered",
        "severity": "info",
        "urgency": "low",
        "dedup_key": f"test-{incident_id.hex[:12]}",
        "source": "stairway test page",
        "details": {"sent_by": user.name, "contact_method": method.label or method.type},
        "alert_count": 1,
        "escalation": {"level": 1, "loop": 0, "next_due_at": None, "exhausted": False},
        "created_at": stamp,
        "updated_at": stamp,
    }
    return Page(
        notification_id=str(uuid.uuid4()),
        idempotency_key=f"test:{method.id}:{incident_id.hex}",
        channel=method.type,
        address=method.address,
        attempt=1,
        incident=incident,
        level=1,
        loop=0,
        user={"id": str(user.id), "name": user.name},
        actions={},
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
    method: ContactMethod,
    user: User,
    fallback_secret: str,
    now: datetime,
) -> Trial:
    """Page `method` once now and record the provider's answer (the caller commits)."""
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
