"""HTTP routes for heartbeats and their pings."""

import uuid

from fastapi import APIRouter

from app.auth import ROLE_RANK, Admin, AnyPrincipal, Observer
from app.db import SessionDep
from app.errors import Forbidden
from app.integrations.heartbeats import service
from app.integrations.heartbeats.schemas import HeartbeatCreate, HeartbeatRead, HeartbeatUpdate
from app.models import Heartbeat, utcnow
from app.repository import get_or_404

router = APIRouter(prefix="/heartbeats", tags=["heartbeats"])


@router.post("", status_code=201, response_model=HeartbeatRead)
async def create_heartbeat(data: HeartbeatCreate, session: SessionDep, _: Admin) -> Heartbeat:
    return await service.create(session=session, data=data)


@router.get("", response_model=dict[str, list[HeartbeatRead]])
async def list_heartbeats(
    session: SessionDep,
    _: Observer,
    service_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> dict[str, list[Heartbeat]]:
    """Heartbeats; of one service, or (`?team_id=`) of the services one team owns."""
    rows = await service.list_all(session=session, service_id=service_id, team_id=team_id)
    return {"items": rows}


@router.get("/{heartbeat_id}", response_model=HeartbeatRead)
async def get_heartbeat(heartbeat_id: uuid.UUID, session: SessionDep, _: Observer) -> Heartbeat:
    return await get_or_404(session, Heartbeat, heartbeat_id, what="heartbeat")


@router.patch("/{heartbeat_id}", response_model=HeartbeatRead)
async def update_heartbeat(
    heartbeat_id: uuid.UUID, data: HeartbeatUpdate, session: SessionDep, _: Admin
) -> Heartbeat:
    return await service.update(session=session, heartbeat_id=heartbeat_id, data=data)


@router.delete("/{heartbeat_id}", status_code=204)
async def delete_heartbeat(heartbeat_id: uuid.UUID, session: SessionDep, _: Admin) -> None:
    await service.delete(session=session, heartbeat_id=heartbeat_id)


@router.post("/{heartbeat_id}/ping", response_model=HeartbeatRead)
async def ping_heartbeat(
    heartbeat_id: uuid.UUID, session: SessionDep, principal: AnyPrincipal
) -> Heartbeat:
    """A ping: an integration key of the heartbeat's service, or a responder or admin."""
    heartbeat = await get_or_404(session, Heartbeat, heartbeat_id, what="heartbeat", lock=True)
    if principal.is_integration:
        if principal.service_id != heartbeat.service_id:
            raise Forbidden("this integration key belongs to another service")
    elif ROLE_RANK.get(principal.role, 0) < ROLE_RANK["responder"]:
        raise Forbidden("pinging a heartbeat needs the responder role or an integration key")
    return await service.ping(session=session, heartbeat=heartbeat, now=utcnow())
