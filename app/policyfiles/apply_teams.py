"""Carrying out a plan's team changes (teams, then their members) through app.teams' service."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.policyfiles.common import Refs, Reporter
from app.policyfiles.model_teams import member as member_model
from app.policyfiles.model_teams import team_models
from app.policyfiles.plan import Change
from app.policyfiles.state import IdKey
from app.teams import service as teams
from app.teams.schemas import MemberUpdate, TeamUpdate


async def apply_team(
    c: Change,
    *,
    session: AsyncSession,
    refs: Refs,
    ids: dict[IdKey, uuid.UUID],
    report: Reporter,
) -> None:
    """Create, update or delete one team (its members are changes of their own)."""
    (name,) = c.key
    if c.action == "delete":
        await teams.delete_team(session=session, team_id=ids[("team", name)])
        return
    assert c.doc is not None
    models = team_models({**c.doc, "members": []}, refs, report)
    assert models is not None
    if c.action == "create":
        team = await teams.create_team(session=session, data=models.team)
        ids[("team", name)] = team.id
        refs.add("team", name, team.id)
        return
    changes = {f: getattr(models.team, f) for f in c.fields}
    await teams.update_team(
        session=session,
        team_id=ids[("team", name)],
        data=TeamUpdate.model_validate(changes),
    )


async def apply_team_member(
    c: Change,
    *,
    session: AsyncSession,
    refs: Refs,
    ids: dict[IdKey, uuid.UUID],
    report: Reporter,
) -> None:
    """Add, change the role of or remove one member of a team."""
    name, email = c.key
    team_id = ids[("team", name)]
    if c.action == "delete":
        user_id = ids[("team_member", name, email)]
        await teams.remove_member(session=session, team_id=team_id, user_id=user_id)
        return
    assert c.doc is not None
    data = member_model(c.doc, (), refs, report)
    assert data is not None
    if c.action == "create":
        await teams.add_member(session=session, team_id=team_id, data=data)
        return
    await teams.update_member(
        session=session,
        team_id=team_id,
        user_id=data.user_id,
        data=MemberUpdate(role=data.role),
    )
