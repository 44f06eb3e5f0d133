"""HTTP routes for outbound webhook subscriptions (admins only)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from app.auth import Admin
from app.db import SessionDep
from app.events import service
from app.events.schemas import (
    DeliveryRead,
    DeliveryStatus,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
    SubscriptionUpdate,
)
from app.outbound import check_destination

router = APIRouter(prefix="/webhook-subscriptions", tags=["webhook subscriptions"])


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: int | None = None


def _check_url(request: Request, url: str) -> None:
    allow = request.app.state.settings.allow_private_webhook_targets
    check_destination(url, allow_private=allow, field="url")


@router.post("", status_code=201)
async def create_subscription(
    data: SubscriptionCreate, request: Request, session: SessionDep, _: Admin
) -> SubscriptionCreated:
    _check_url(request, data.url)
    subscription = await service.create_subscription(session=session, data=data)
    return SubscriptionCreated.model_validate(subscription, from_attributes=True)


@router.get("")
async def list_subscriptions(session: SessionDep, _: Admin) -> dict[str, list[SubscriptionRead]]:
    rows = await service.list_subscriptions(session=session)
    return {"items": [SubscriptionRead.model_validate(r) for r in rows]}


@router.get("/{subscription_id}")
async def get_subscription(
    subscription_id: uuid.UUID, session: SessionDep, _: Admin
) -> SubscriptionRead:
    row = await service.get_subscription(session=session, subscription_id=subscription_id)
    return SubscriptionRead.model_validate(row)


@router.patch("/{subscription_id}")
async def update_subscription(
    subscription_id: uuid.UUID,
    data: SubscriptionUpdate,
    request: Request,
    session: SessionDep,
    _: Admin,
) -> SubscriptionRead:
    if data.url is not None:
        _check_url(request, data.url)
    row = await service.update_subscription(
        session=session, subscription_id=subscription_id, data=data
    )
    return SubscriptionRead.model_validate(row)


@router.delete("/{subscription_id}", status_code=204)
async def delete_subscription(subscription_id: uuid.UUID, session: SessionDep, _: Admin) -> None:
    await service.delete_subscription(session=session, subscription_id=subscription_id)


@router.get("/{subscription_id}/deliveries")
async def list_deliveries(
    subscription_id: uuid.UUID,
    session: SessionDep,
    _: Admin,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> DeliveryPage:
    """Every attempt's outcome, newest event first: what was sent, what the receiver answered."""
    rows, next_cursor = await service.list_deliveries(
        session=session, subscription_id=subscription_id, status=status, limit=limit, before=cursor
    )
    return DeliveryPage(
        items=[DeliveryRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )
