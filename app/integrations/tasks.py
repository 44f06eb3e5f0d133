"""The inbound job: apply the queued alert events."""

from datetime import timedelta

from app.integrations.drain import drain_batch
from app.integrations.inbox import INBOX_JOB, inbox_wakeup
from app.jobs import Ctx, stopping, transacted
from app.models import utcnow

INBOX_RETRY = timedelta(milliseconds=50)
# When an inbound event that failed is tried again (the events of other keys go on meanwhile).
INBOX_FAILURE_RETRY = timedelta(seconds=1)


async def inbound_events_due(ctx: Ctx) -> None:
    """Apply queued inbound alert events, batch after batch, until the inbox is empty."""
    while True:
        drained = await transacted(ctx, lambda s: drain_batch(session=s))
        if drained.busy:
            # Another worker is draining and may have made its last claim before these events
            # committed: look again shortly.
            await ctx["enqueue"]([inbox_wakeup(utcnow() + INBOX_RETRY)])
            return
        if drained.more:
            if stopping(ctx):
                await ctx["enqueue"]([inbox_wakeup(utcnow(), fresh=True)])
                return
            continue
        if drained.failed:
            await ctx["enqueue"]([inbox_wakeup(utcnow() + INBOX_FAILURE_RETRY)])
        return


TASKS = {INBOX_JOB: inbound_events_due}
