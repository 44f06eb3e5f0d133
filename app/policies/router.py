"""HTTP routes for escalation policies."""

import uuid

from fastapi import APIRouter, Request
from pydantic import AwareDatetime

from app.auth import Observer
from app.db import SessionDep
from app.models import EscalationPolicy, utcnow
from app.policies import service
from app.policies.preview import PolicyPreview, preview_policy
from app.policies.schemas import PolicyCreate, PolicyRead, PolicyUpdate
from app.teams import access
from app.teams.access import Creator, PolicyManager
from app.vocabulary import Urgency

router = APIRouter(prefix="/escalation-policies", tags=["escalation policies"])


@router.post("", status_code=201)
async def create_policy(
    data: PolicyCreate, request: Request, session: SessionDep, principal: Creator
) -> PolicyRead:
    await access.check_manages(session, principal, data.team_id)
    allow = request.app.state.settings.allow_private_webhook_targets
    return await service.create_policy(session=session, data=data, allow_private=allow)


@router.get("")
async def list_policies(
    session: SessionDep, _: Observer, team_id: uuid.UUID | None = None
) -> dict[str, list[PolicyRead]]:
    return {"items": await service.list_policies(session=session, team_id=team_id)}


@router.get("/{policy_id}")
async def get_policy(policy_id: uuid.UUID, session: SessionDep, _: Observer) -> PolicyRead:
    return await service.read_policy(session=session, policy_id=policy_id)


@router.get("/{policy_id}/preview")
async def preview_policy_route(
    policy_id: uuid.UUID,
    session: SessionDep,
    _: Observer,
    at: AwareDatetime | None = None,
    urgency: Urgency = Urgency.HIGH,
) -> PolicyPreview:
    """Who would be paged when, if an incident triggered at `at` (default now) and nobody acked."""
    return await preview_policy(
        session=session, policy_id=policy_id, at=at or utcnow(), urgency=urgency.value
    )


@router.patch("/{policy_id}")
async def update_policy(
    policy_id: uuid.UUID,
    data: PolicyUpdate,
    request: Request,
    session: SessionDep,
    principal: PolicyManager,
) -> PolicyRead:
    current = await session.get(EscalationPolicy, policy_id)
    changes = data.model_dump(exclude_unset=True)
    await access.check_move(session, principal, changes, current.team_id if current else None)
    allow = request.app.state.settings.allow_private_webhook_targets
    return await service.update_policy(
        session=session, policy_id=policy_id, data=data, allow_private=allow
    )


@router.delete("/{policy_id}", status_code=204)
async def delete_policy(policy_id: uuid.UUID, session: SessionDep, _: PolicyManager) -> None:
    await service.delete_policy(session=session, policy_id=policy_id)
