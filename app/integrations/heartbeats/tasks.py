"""The heartbeat check, run by cron: open incidents for missed heartbeats."""

from typing import Any

from app.integrations.heartbeats.service import check as check_heartbeats
from app.jobs import Ctx, in_transaction
from app.models import utcnow


async def heartbeat_check(ctx: Ctx) -> None:
    """Open incidents for missed heartbeats (state in PostgreSQL: safe to repeat or overlap)."""
    await in_transaction(ctx, _check_heartbeats)


async def _check_heartbeats(session: Any) -> None:
    await check_heartbeats(session=session, now=utcnow())
