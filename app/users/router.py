"""HTTP routes for users and everything a user owns."""

import uuid

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.auth import Admin, AnyPrincipal, Observer, Principal
from app.db import SessionDep
from app.errors import Forbidden, error_body, field_error
from app.models import User, utcnow
from app.repository import get_or_404
from app.schedules import feeds
from app.schedules.schemas import CalendarFeedCreated
from app.users import chat_links, service, testpage, verification
from app.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ChatKind,
    ChatLinkCode,
    ContactMethodCreate,
    ContactMethodCreated,
    ContactMethodRead,
    NotificationRuleCreate,
    NotificationRuleRead,
    TestPageSent,
    UserCreate,
    UserRead,
    UserUpdate,
    VerificationCode,
    VerificationSent,
)

router = APIRouter(prefix="/users", tags=["users"])
NO_CONTENT = status.HTTP_204_NO_CONTENT


@router.post("", status_code=201, response_model=UserRead)
async def create_user(data: UserCreate, session: SessionDep, _: Admin) -> User:
    return await service.create_user(session=session, data=data)


@router.get("", response_model=dict[str, list[UserRead]])
async def list_users(
    session: SessionDep, _: Observer, team_id: uuid.UUID | None = None
) -> dict[str, list[User]]:
    """Every user, or (`?team_id=`) the members of one team."""
    return {"items": await service.list_users(session=session, team_id=team_id)}


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
    trusted = request.app.state.settings.contact_verification == "trusted"
    method = await service.add_contact_method(
        session=session, user_id=user_id, data=data, allow_private=allow, trusted=trusted
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


def _owner_or_admin(
    principal: Principal, user_id: uuid.UUID, *, what: str = "contact method"
) -> None:
    """Codes and feeds are the user's own (or an admin's to manage)."""
    if principal.role != "admin" and principal.user_id != user_id:
        raise Forbidden(f"only the user or an admin can manage this {what}")


@router.post("/{user_id}/contact-methods/{method_id}/verification", response_model=VerificationSent)
async def send_verification_code(
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: AnyPrincipal,
) -> VerificationSent:
    """Send a verification code through the contact method's channel; the outcome is shown."""
    _owner_or_admin(principal, user_id)
    sent = await verification.send_code(
        session=session,
        providers=request.app.state.providers,
        settings=request.app.state.settings,
        user_id=user_id,
        method_id=method_id,
        now=utcnow(),
    )
    return VerificationSent(
        outcome=sent.outcome.value,
        detail=sent.detail,
        expires_at=sent.expires_at,
        contact_method=ContactMethodRead.model_validate(sent.method),
    )


@router.post(
    "/{user_id}/contact-methods/{method_id}/verify",
    response_model=ContactMethodRead,
    responses={422: {"description": "Wrong, expired or used-up code"}},
)
async def verify_contact_method(
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    data: VerificationCode,
    request: Request,
    session: SessionDep,
    principal: AnyPrincipal,
) -> object:
    """Confirm the code the channel received; the method is then paged."""
    _owner_or_admin(principal, user_id)
    confirmation = await verification.confirm_code(
        session=session,
        settings=request.app.state.settings,
        user_id=user_id,
        method_id=method_id,
        code=data.code,
        now=utcnow(),
    )
    if confirmation.refused is not None:
        # Answered, not raised: the counted attempt is committed with the request.
        error = field_error("code", confirmation.refused)
        return JSONResponse(error_body(error.code, error.message, error.details), 422)
    return confirmation.method


@router.post(
    "/{user_id}/contact-methods/{method_id}/test",
    response_model=TestPageSent,
    responses={429: {"description": "A test page went to this contact method just now"}},
)
async def send_test_page(
    user_id: uuid.UUID,
    method_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: AnyPrincipal,
) -> TestPageSent:
    """Send a test page through the method's real provider and show what it answered."""
    _owner_or_admin(principal, user_id)
    trial = await testpage.send_test_page(
        session=session,
        providers=request.app.state.providers,
        user_id=user_id,
        method_id=method_id,
        fallback_secret=request.app.state.link_secret,
        now=utcnow(),
    )
    return TestPageSent(outcome=trial.outcome, detail=trial.response)


@router.post(
    "/{user_id}/contact-methods/{method_id}/mark-verified", response_model=ContactMethodRead
)
async def mark_contact_method_verified(
    user_id: uuid.UUID, method_id: uuid.UUID, session: SessionDep, _: Admin
) -> object:
    """An admin vouches for a contact method: it is paged without a code."""
    return await verification.mark_verified(
        session=session, user_id=user_id, method_id=method_id, now=utcnow()
    )


@router.post("/{user_id}/calendar-feed", status_code=201)
async def rotate_calendar_feed(
    user_id: uuid.UUID, request: Request, session: SessionDep, principal: AnyPrincipal
) -> CalendarFeedCreated:
    """A new secret URL for the user's shifts as iCalendar; the previous URL stops working."""
    _owner_or_admin(principal, user_id, what="calendar feed")
    token = await feeds.rotate_feed(session=session, user_id=user_id)
    return CalendarFeedCreated(url=feeds.feed_url(request.app.state.settings.public_url, token))


@router.delete("/{user_id}/calendar-feed", status_code=NO_CONTENT)
async def delete_calendar_feed(
    user_id: uuid.UUID, session: SessionDep, principal: AnyPrincipal
) -> None:
    """Turn the user's feed off."""
    _owner_or_admin(principal, user_id, what="calendar feed")
    await feeds.delete_feed(session=session, user_id=user_id)


@router.post("/{user_id}/chat-links/{kind}", status_code=201)
async def start_chat_link(
    user_id: uuid.UUID,
    kind: ChatKind,
    request: Request,
    session: SessionDep,
    principal: AnyPrincipal,
) -> ChatLinkCode:
    """A one-time code that links the chat account it is sent from to this user."""
    _owner_or_admin(principal, user_id, what="chat link")
    link = await chat_links.start_link(
        session=session,
        user_id=user_id,
        kind=kind.value,
        now=utcnow(),
        ttl_seconds=request.app.state.settings.chat_link_code_ttl_seconds,
    )
    how = chat_links.how_to_link(kind.value, link.code)
    return ChatLinkCode(kind=kind, code=link.code, expires_at=link.expires_at, how=how)


@router.delete("/{user_id}/chat-links/{kind}", status_code=NO_CONTENT)
async def delete_chat_link(
    user_id: uuid.UUID, kind: ChatKind, session: SessionDep, principal: AnyPrincipal
) -> None:
    """Unlink the user's chat account: its button presses act as nobody."""
    _owner_or_admin(principal, user_id, what="chat link")
    await chat_links.unlink(session=session, user_id=user_id, kind=kind.value)


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
