"""Saved destinations that the outbound URL rule will refuse, found before anyone is paged.

With DATABASE_URL set, pages to loopback and private addresses are refused (see
docs/security.md). A contact method or policy target saved before that, or loaded from files
written for a development machine, would then fail at every page: `serve` and `worker` warn
about each at start, and `stairway doctor` lists them with the fix.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.config import Settings
from app.errors import AppError
from app.models import (
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    User,
    WebhookSubscription,
)
from app.outbound import check_destination

log = logging.getLogger("stairway")
URL_CONTACT_TYPES = ("webhook", "slack")


@dataclass(frozen=True, slots=True)
class Refused:
    """A saved destination and why the URL rule refuses it."""

    what: str
    url: str
    reason: str


def refusal(url: str, settings: Settings) -> str | None:
    """Why the outbound URL rule refuses `url` (None: it may be sent to)."""
    try:
        check_destination(
            url, allow_private=bool(settings.allow_private_webhook_targets), field="url"
        )
    except AppError as exc:
        return exc.message.removeprefix("url: ")
    return None


async def refused_destinations(*, session: AsyncSession, settings: Settings) -> list[Refused]:
    """Every contact method, policy webhook target and event subscription the rule refuses."""
    found: list[tuple[str, str]] = []
    methods = await session.execute(
        select(
            col(User.name),
            col(ContactMethod.type),
            col(ContactMethod.label),
            col(ContactMethod.address),
        )
        .join(User, col(User.id) == col(ContactMethod.user_id))
        .where(col(ContactMethod.type).in_(URL_CONTACT_TYPES))
        .order_by(col(User.name), col(ContactMethod.created_at))
    )
    for user, kind, label, address in methods:
        named = f' "{label}"' if label else ""
        found.append((f"{kind} contact method{named} of {user}", address))
    targets = await session.execute(
        select(col(EscalationPolicy.name), col(EscalationLevel.position), col(EscalationTarget.url))
        .join(EscalationLevel, col(EscalationLevel.id) == col(EscalationTarget.level_id))
        .join(EscalationPolicy, col(EscalationPolicy.id) == col(EscalationLevel.policy_id))
        .where(col(EscalationTarget.type) == "webhook")
        .order_by(col(EscalationPolicy.name), col(EscalationLevel.position))
    )
    for policy, position, url in targets:
        if url is None:
            continue
        found.append((f'webhook target of policy "{policy}" level {position}', url))
    subscriptions = await session.execute(
        select(col(WebhookSubscription.url)).where(col(WebhookSubscription.enabled))
    )
    for (url,) in subscriptions:
        found.append(("webhook subscription", url))
    refused = []
    for what, url in found:
        reason = refusal(url, settings)
        if reason is not None:
            refused.append(Refused(what, url, reason))
    return refused


FIX = (
    "point it at an address other machines can reach, or set "
    "STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS=true if private destinations are intended"
)


async def warn_refused(settings: Settings) -> list[Refused]:
    """Log one warning per saved destination the rule will refuse; the list."""
    from app.db import make_engine, make_sessionmaker

    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            refused = await refused_destinations(session=session, settings=settings)
    finally:
        await engine.dispose()
    for item in refused:
        log.warning(
            "pages to %s will be refused: %s (%s); %s", item.what, item.url, item.reason, FIX
        )
    return refused
