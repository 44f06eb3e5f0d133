"""HTTP routes for a service's routing rules and maintenance windows."""

import uuid

from fastapi import APIRouter

from app.auth import Observer
from app.db import SessionDep
from app.models import MaintenanceWindow, Service, utcnow
from app.repository import get_or_404
from app.routing import service
from app.routing.schemas import RuleCreate, RuleList, RuleRead, WindowCreate, WindowRead
from app.teams.access import ServiceManager

router = APIRouter(prefix="/services/{service_id}", tags=["routing"])


@router.get("/routing-rules")
async def list_rules(
    service_id: uuid.UUID, session: SessionDep, _: Observer
) -> dict[str, list[RuleRead]]:
    await get_or_404(session, Service, service_id, what="service")
    rows = await service.list_rules(session=session, service_id=service_id)
    return {"items": [RuleRead.model_validate(r) for r in rows]}


@router.put("/routing-rules")
async def replace_rules(
    service_id: uuid.UUID, data: RuleList, session: SessionDep, _: ServiceManager
) -> dict[str, list[RuleRead]]:
    rows = await service.replace_rules(session=session, service_id=service_id, rules=data.rules)
    return {"items": [RuleRead.model_validate(r) for r in rows]}


@router.post("/routing-rules", status_code=201)
async def add_rule(
    service_id: uuid.UUID, data: RuleCreate, session: SessionDep, _: ServiceManager
) -> RuleRead:
    row = await service.add_rule(session=session, service_id=service_id, data=data)
    return RuleRead.model_validate(row)


@router.delete("/routing-rules/{rule_id}", status_code=204)
async def delete_rule(
    service_id: uuid.UUID, rule_id: uuid.UUID, session: SessionDep, _: ServiceManager
) -> None:
    await service.delete_rule(session=session, service_id=service_id, rule_id=rule_id)


def _window(window: MaintenanceWindow) -> WindowRead:
    now = utcnow()
    read = WindowRead.model_validate(window)
    read.active = window.starts_at <= now < window.ends_at
    return read


@router.post("/maintenance-windows", status_code=201)
async def add_window(
    service_id: uuid.UUID, data: WindowCreate, session: SessionDep, _: ServiceManager
) -> WindowRead:
    return _window(await service.add_window(session=session, service_id=service_id, data=data))


@router.get("/maintenance-windows")
async def list_windows(
    service_id: uuid.UUID, session: SessionDep, _: Observer
) -> dict[str, list[WindowRead]]:
    rows = await service.list_windows(session=session, service_id=service_id, since=utcnow())
    return {"items": [_window(w) for w in rows]}


@router.delete("/maintenance-windows/{window_id}", status_code=204)
async def delete_window(
    service_id: uuid.UUID, window_id: uuid.UUID, session: SessionDep, _: ServiceManager
) -> None:
    await service.delete_window(session=session, service_id=service_id, window_id=window_id)
