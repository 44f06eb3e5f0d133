"""HTTP routes for users and everything a user owns."""

import uuid

from fastapi import APIRouter, Request, status

from app.auth import Admin, Observer
from app.db import SessionDep
from app.models import User, utcnow
from app.repository import get_or_404
from app.users import service
from app.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ContactMethodCreate,
    ContactMethodCreated,
    ContactMethodRead,
    NotificationRuleCreate,
    NotificationRuleRead,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(prefix="/users", tags=["users"])
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("", status_code=201, response_model=UserRead)
async def create_user(data: UserCreate, session: SessionDep, _: Admin) -> User:
    return await service.create_user(session=session, data=data)


@router.get("", response_model=dict[str, list[UserRead]])
async def list_users(session: SessionDep, _: Observer) -> dict[str, list[User]]:
    return {"items": await service.list_users(session=session)}


@router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: uuid.UUID, session: SessionDep, _: Observer) -> User:
    return await get_or_404(session, User, user_id, what="user")


@router.patch("/{user_id}", response_model=UserRead)
async def update_user(user_id: uuid.UUID, data: UserUpdate, session: SessionDep, _: Admin) -> User:
    return await service.update_user(session=session, user_id=user_id, data=data)


@router.delete("/{user_id}", status_code=NO_CONTENT)
async def delete_user(user_id: uuid.UUID, session: SessionDep, _: Admin) -> None:
    await service.delete_user(session=session, user_id=user_id, now=utcnow())


@router.post("/{user_id}/contact-methods", status_code=201, response_model=ContactMethodCreated)
async def add_contact_method(
    user_id: uuid.UUID,
    data: ContactMethodCreate,
    request: Request,
    session: SessionDep,
    _: Admin,
) -> ContactMethodCreated:
    allow = request.app.state.settings.allow_private_webhook_targets
    method = await service.add_contact_method(
        session=session, user_id=user_id, data=data, allow_private=allow
    )
    created = ContactMethodCreated.model_validate(method)
    created.signing_secret = method.signing_secret or None
    return created


@router.get("/{user_id}/contact-methods", response_model=dict[str, list[ContactMethodRead]])
async def list_contact_methods(
    user_id: uuid.UUID, session: SessionDep, _: Observer
) -> dict[str, object]:
    return {"items": await service.list_contact_methods(session=session, user_id=user_id)}


@router.delete("/{user_id}/contact-methods/{method_id}", status_code=NO_CONTENT)
async def delete_contact_method(
    user_id: uuid.UUID, method_id: uuid.UUID, session: SessionDep, _: Admin
) -> None:
    await service.delete_contact_method(session=session, user_id=user_id, method_id=method_id)


@router.post("/{user_id}/notification-rules", status_code=201, response_model=NotificationRuleRead)
async def add_notification_rule(
    user_id: uuid.UUID, data: NotificationRuleCreate, session: SessionDep, _: Admin
) -> object:
    return await service.add_notification_rule(session=session, user_id=user_id, data=data)


@router.get("/{user_id}/notification-rules", response_model=dict[str, list[NotificationRuleRead]])
async def list_notification_rules(
    user_id: uuid.UUID, session: SessionDep, _: Observer
) -> dict[str, object]:
    return {"items": await service.list_notification_rules(session=session, user_id=user_id)}


@router.delete("/{user_id}/notification-rules/{rule_id}", status_code=NO_CONTENT)
async def delete_notification_rule(
    user_id: uuid.UUID, rule_id: uuid.UUID, session: SessionDep, _: Admin
) -> None:
    await service.delete_notification_rule(session=session, user_id=user_id, rule_id=rule_id)


@router.post("/{user_id}/api-keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    user_id: uuid.UUID, data: ApiKeyCreate, session: SessionDep, _: Admin
) -> ApiKeyCreated:
    key, secret = await service.create_api_key(session=session, user_id=user_id, data=data)
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(key).model_dump(), "key": secret}
    )


@router.get("/{user_id}/api-keys", response_model=dict[str, list[ApiKeyRead]])
async def list_api_keys(user_id: uuid.UUID, session: SessionDep, _: Admin) -> dict[str, object]:
    return {"items": await service.list_api_keys(session=session, user_id=user_id)}


@router.delete("/{user_id}/api-keys/{key_id}", response_model=ApiKeyRead)
async def revoke_api_key(
    user_id: uuid.UUID, key_id: uuid.UUID, session: SessionDep, _: Admin
) -> object:
    return await service.revoke_api_key(
        session=session, user_id=user_id, key_id=key_id, at=utcnow()
    )
