"""`stairway policies preview POLICY [--at T]`: the dry run of a policy as a readable table."""

import asyncio
from datetime import datetime

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.models import EscalationPolicy, utcnow
from app.policies.preview import PolicyPreview, preview_policy
from app.policyfiles.runner import database, with_sessions


def render(preview: PolicyPreview) -> str:
    """One line per page, skip and repeat, in the order they would happen."""
    lines = [
        f"{preview.policy_name}: an incident triggered at {preview.at.isoformat()} "
        f"({preview.urgency} urgency), nobody answering"
    ]
    for step in preview.steps:
        when = step.at.isoformat()
        if step.type == "repeated":
            lines.append(f"{when}  loop {step.loop}: the chain restarts at level 1")
            continue
        if step.type == "level_skipped":
            reasons = "; ".join(str(u.get("reason")) for u in step.unreachable)
            lines.append(f"{when}  level {step.level} skipped: {reasons}")
            continue
        lines.append(f"{when}  level {step.level} (loop {step.loop})")
        for page in step.pages:
            cancelled = (
                f"  (cancelled at {page.superseded_at.isoformat()} by a later page)"
                if page.superseded_at
                else ""
            )
            lines.append(
                f"    {page.at.isoformat()}  {page.user_name or page.address} "
                f"via {page.channel} {page.address}{cancelled}"
            )
        for unreachable in step.unreachable:
            lines.append(f"    unreachable: {unreachable.get('reason')}")
    ending = preview.exhausted_at.isoformat() if preview.exhausted_at else "never"
    lines.append(f"exhausted at: {ending}")
    return "\n".join(lines)


def preview(name: str, at: datetime | None, urgency: str) -> None:
    """Print the preview of the policy named `name`."""
    settings = database()

    async def work(sessions: async_sessionmaker[AsyncSession]) -> PolicyPreview | None:
        async with sessions() as session:
            policy_id = await session.scalar(
                select(col(EscalationPolicy.id)).where(col(EscalationPolicy.name) == name)
            )
            if policy_id is None:
                return None
            result: PolicyPreview = await preview_policy(
                session=session, policy_id=policy_id, at=at or utcnow(), urgency=urgency
            )
            return result

    result = asyncio.run(with_sessions(settings, work))
    if result is None:
        typer.echo(f"no escalation policy named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(render(result))
