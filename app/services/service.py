"""Service and integration key management."""

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, field_error
from app.models import EscalationPolicy, IntegrationKey, Service
from app.repository import apply_changes, flush_unique, get_or_404
from app.security import NewKey, new_integration_key
from app.services.schemas import IntegrationKeyCreate, ServiceCreate, ServiceUpdate
from app.teams.service import check_team


async def _check_policy(session: AsyncSession, policy_id: uuid.UUID) -> None:
    if await session.get(EscalationPolicy, policy_id) is None:
        raise field_error("escalation_policy_id", f"unknown escalation policy {policy_id}")


async def _flush_name(session: AsyncSession, name: str) -> None:
    await flush_unique(session, field="name", message=f"a service named {name!r} exists")


async def create_service(*, session: AsyncSession, data: ServiceCreate) -> Service:
    """Add a service escalating by the given policy."""
    await _check_policy(session, data.escalation_policy_id)
    await check_team(session, data.team_id)
    svc = Service(**data.model_dump())
    session.add(svc)
    await _flush_name(session, svc.name)
    return svc


async def list_services(
    *, session: AsyncSession, team_id: uuid.UUID | None = None
) -> list[Service]:
    """Every service by name, or only those of one team."""
    query = select(Service).order_by(col(Service.name))
    if team_id is not None:
        query = query.where(col(Service.team_id) == team_id)
    return list((await session.scalars(query)).all())


async def services_by_id(
    *, session: AsyncSession, service_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Service]:
    """These services by id (a deleted one is left out)."""
    query = select(Service).where(col(Service.id).in_(service_ids))
    return {s.id: s for s in (await session.scalars(query)).all()}


async def update_service(
    *, session: AsyncSession, service_id: uuid.UUID, data: ServiceUpdate
) -> Service:
    """Change some fields of a service (explicit nulls clear the optional timers)."""
    svc = await get_or_404(session, Service, service_id, what="service")
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "escalation_policy_id"):
        if required in changes and changes[required] is None:
            raise field_error(required, "may not be null")
    if "escalation_policy_id" in changes:
        await _check_policy(session, changes["escalation_policy_id"])
    if "team_id" in changes:
        await check_team(session, changes["team_id"])
    apply_changes(svc, changes)
    await _flush_name(session, svc.name)
    return svc


async def delete_service(*, session: AsyncSession, service_id: uuid.UUID) -> None:
    """Remove a service that has no incidents."""
    svc = await get_or_404(session, Service, service_id, what="service")
    try:
        async with session.begin_nested():
            await session.delete(svc)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"service {service_id} has incidents and cannot be deleted") from exc


async def create_integration_key(
    *,
    session: AsyncSession,
    service_id: uuid.UUID,
    data: IntegrationKeyCreate,
    kept: NewKey | None = None,
) -> tuple[IntegrationKey, str]:
    """A new routing key for the service; the secret is returned once.

    `kept` is a key brought from elsewhere (a PagerDuty integration key in policy files), so its
    senders keep working; its secret is already known and only its hash is stored.
    """
    await get_or_404(session, Service, service_id, what="service")
    fresh = kept or new_integration_key()
    key = IntegrationKey(
        service_id=service_id,
        name=data.name,
        key_hash=fresh.key_hash,
        prefix=fresh.prefix,
        alert_grouping=data.alert_grouping,
    )
    session.add(key)
    if kept is None:
        await session.flush()
    else:
        await flush_unique(session, field="key", message="this integration key is already in use")
    return key, fresh.secret


async def list_integration_keys(
    *, session: AsyncSession, service_id: uuid.UUID
) -> list[IntegrationKey]:
    """A service's integration keys (never their secrets)."""
    await get_or_404(session, Service, service_id, what="service")
    query = select(IntegrationKey).where(col(IntegrationKey.service_id) == service_id)
    return list((await session.scalars(query.order_by(col(IntegrationKey.created_at)))).all())


async def delete_integration_key(
    *, session: AsyncSession, service_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    """Remove an integration key; it stops working at once."""
    key = await get_or_404(session, IntegrationKey, key_id, what="integration key")
    if key.service_id != service_id:
        raise field_error("key_id", "not a key of this service")
    await session.delete(key)
    await session.flush()
