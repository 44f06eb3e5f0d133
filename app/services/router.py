"""HTTP routes for services and integration keys."""

import uuid

from fastapi import APIRouter

from app.auth import Observer
from app.db import SessionDep
from app.models import Service
from app.repository import get_or_404
from app.services import service
from app.services.schemas import (
    IntegrationKeyCreate,
    IntegrationKeyCreated,
    IntegrationKeyRead,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
)
from app.teams import access
from app.teams.access import Creator, ServiceManager

router = APIRouter(prefix="/services", tags=["services"])


@router.post("", status_code=201, response_model=ServiceRead)
async def create_service(data: ServiceCreate, session: SessionDep, principal: Creator) -> Service:
    await access.check_manages(session, principal, data.team_id)
    return await service.create_service(session=session, data=data)


@router.get("", response_model=dict[str, list[ServiceRead]])
async def list_services(
    session: SessionDep, _: Observer, team_id: uuid.UUID | None = None
) -> dict[str, list[Service]]:
    return {"items": await service.list_services(session=session, team_id=team_id)}


@router.get("/{service_id}", response_model=ServiceRead)
async def get_service(service_id: uuid.UUID, session: SessionDep, _: Observer) -> Service:
    return await get_or_404(session, Service, service_id, what="service")


@router.patch("/{service_id}", response_model=ServiceRead)
async def update_service(
    service_id: uuid.UUID, data: ServiceUpdate, session: SessionDep, principal: ServiceManager
) -> Service:
    changes = data.model_dump(exclude_unset=True)
    await access.check_move(
        session, principal, changes, await access.service_team(session, service_id)
    )
    return await service.update_service(session=session, service_id=service_id, data=data)


@router.delete("/{service_id}", status_code=204)
async def delete_service(service_id: uuid.UUID, session: SessionDep, _: ServiceManager) -> None:
    await service.delete_service(session=session, service_id=service_id)


@router.post("/{service_id}/integration-keys", status_code=201)
async def create_integration_key(
    service_id: uuid.UUID, data: IntegrationKeyCreate, session: SessionDep, _: ServiceManager
) -> IntegrationKeyCreated:
    key, secret = await service.create_integration_key(
        session=session, service_id=service_id, data=data
    )
    read = IntegrationKeyRead.model_validate(key).model_dump()
    return IntegrationKeyCreated.model_validate({**read, "key": secret})


@router.get("/{service_id}/integration-keys", response_model=dict[str, list[IntegrationKeyRead]])
async def list_integration_keys(
    service_id: uuid.UUID, session: SessionDep, _: ServiceManager
) -> dict[str, object]:
    return {"items": await service.list_integration_keys(session=session, service_id=service_id)}


@router.delete("/{service_id}/integration-keys/{key_id}", status_code=204)
async def delete_integration_key(
    service_id: uuid.UUID, key_id: uuid.UUID, session: SessionDep, _: ServiceManager
) -> None:
    await service.delete_integration_key(session=session, service_id=service_id, key_id=key_id)
