"""The incident lifecycle's timer jobs: an acknowledgement lapses, an incident auto-resolves."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from app.incidents.lifecycle import run_ack_timeout, run_auto_resolve
from app.jobs import Ctx, in_transaction
from app.models import utcnow
from app.store.timers import ACK_TIMEOUT_JOB, AUTO_RESOLVE_JOB


async def _timer(
    ctx: Ctx, run: Callable[..., Awaitable[None]], incident_id: str, due_at: str
) -> None:
    instant = datetime.fromisoformat(due_at)
    await in_transaction(
        ctx,
        lambda s: run(session=s, incident_id=uuid.UUID(incident_id), due_at=instant, now=utcnow()),
    )


async def ack_timeout(ctx: Ctx, incident_id: str, due_at: str) -> None:
    """An acknowledgement lapses (service ack timeout or snooze end): re-trigger at level 1."""
    await _timer(ctx, run_ack_timeout, incident_id, due_at)


async def auto_resolve(ctx: Ctx, incident_id: str, due_at: str) -> None:
    """Resolve an incident left open for its service's auto_resolve_seconds."""
    await _timer(ctx, run_auto_resolve, incident_id, due_at)


TASKS = {ACK_TIMEOUT_JOB: ack_timeout, AUTO_RESOLVE_JOB: auto_resolve}
