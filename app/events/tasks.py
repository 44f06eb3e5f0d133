"""The outbound event job: deliver one webhook subscription's event."""

import uuid

from app.events.delivery import EVENT_JOB, deliver
from app.jobs import Ctx, in_transaction
from app.models import utcnow


async def deliver_event(ctx: Ctx, delivery_id: str) -> None:
    """Deliver one outbound event (webhook subscription outbox row)."""
    await in_transaction(
        ctx,
        lambda s: deliver(
            session=s,
            delivery_id=uuid.UUID(delivery_id),
            now=utcnow(),
            client=ctx["http"],
            settings=ctx["settings"],
        ),
    )


TASKS = {EVENT_JOB: deliver_event}
