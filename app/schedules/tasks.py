"""The on-call notices, run by cron: plan the due ones, then send the pending ones."""

from app.config import Settings
from app.jobs import Ctx, transacted
from app.models import utcnow
from app.schedules.notices import plan_notices, send_due_notices


async def oncall_notices(ctx: Ctx) -> None:
    """Write the on-call notices that are due, then send the pending ones."""
    settings: Settings = ctx["settings"]
    await transacted(ctx, lambda s: plan_notices(session=s, settings=settings, now=utcnow()))
    providers = ctx["delivery"].providers
    await transacted(
        ctx,
        lambda s: send_due_notices(session=s, providers=providers, settings=settings, now=utcnow()),
    )
