"""User, contact method, notification rule and API key management."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, field_error
from app.models import ApiKey, ContactMethod, NotificationRule, TeamMember, User, utcnow
from app.notify import registry
from app.outbound import check_destination
from app.policies.service import policies_naming_user
from app.repository import apply_changes, flush_unique, get_or_404, get_owned_or_404
from app.security import new_api_key, new_secret
from app.store.outbox import cancel_pages_of_user
from app.users.schemas import (
    ApiKeyCreate,
    ContactMethodCreate,
    NotificationRuleCreate,
    UserCreate,
    UserUpdate,
)


async def _flush_unique(session: AsyncSession, *, field: str, value: str) -> None:
    await flush_unique(session, field=field, message=f"{field} {value!r} is already taken")


async def create_user(*, session: AsyncSession, data: UserCreate) -> User:
    """Add a user; emails are unique."""
    user = User(
        name=data.name,
        email=str(data.email).lower(),
        role=data.role.value,
        time_zone=data.time_zone,
        slack_user_id=data.slack_user_id,
    )
    session.add(user)
    await _flush_unique(session, field="email", value=user.email)
    return user


async def list_users(*, session: AsyncSession, team_id: uuid.UUID | None = None) -> list[User]:
    """Every user by name, or only the members of one team."""
    query = select(User).order_by(col(User.name), col(User.id))
    if team_id is not None:
        query = query.join(TeamMember, col(TeamMember.user_id) == col(User.id)).where(
            col(TeamMember.team_id) == team_id
        )
    return list((await session.scalars(query)).all())


async def update_user(*, session: AsyncSession, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Change some fields of a user."""
    user = await get_or_404(session, User, user_id, what="user")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "email" in changes:
        changes["email"] = str(changes["email"]).lower()
    apply_changes(user, changes)
    await _flush_unique(session, field="email", value=user.email)
    return user


async def _refuse_if_a_policy_names(session: AsyncSession, user_id: uuid.UUID, email: str) -> None:
    policies = await policies_naming_user(session, user_id)
    if policies:
        names = ", ".join(p.name for p in policies)
        raise Conflict(
            f"user {email} is a target of escalation policies {names}; "
            "remove them from those policies first",
            details=[{"id": str(p.id), "name": p.name} for p in policies],
        )


async def delete_user(*, session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    """Remove a user with their contact methods, rules and keys, and cancel their pending pages.

    A user an escalation policy names is kept (409 listing the policies), as a policy naming a
    missing user cannot be saved.
    """
    user = await get_or_404(session, User, user_id, what="user")
    email = user.email
    await _refuse_if_a_policy_names(session, user_id, email)
    await cancel_pages_of_user(session, user_id, at=now, reason="user deleted")
    await session.delete(user)
    await session.flush()
    # A policy saved meanwhile key-share-locked the user, so the delete waited for it: look again.
    await _refuse_if_a_policy_names(session, user_id, email)


async def add_contact_method(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    data: ContactMethodCreate,
    allow_private: bool,
    trusted: bool = False,
) -> ContactMethod:
    """Add a way to reach a user; webhook methods get a signing secret.

    An address that is a URL Stairway posts to must pass the outbound URL rule (`allow_private`: the
    STAIRWAY_ALLOW_PRIVATE_WEBHOOK_TARGETS setting). A `trusted` method is verified at once (an
    operator vouches for it); others are paged only once verified (app/users/verification.py).
    """
    if registry.BY_TYPE[data.type].outbound_url:
        check_destination(data.address, allow_private=allow_private, field="address")
    await get_or_404(session, User, user_id, what="user")
    secret = new_secret() if registry.BY_TYPE[data.type].signing_secret else ""
    method = ContactMethod(
        user_id=user_id,
        type=data.type,
        address=data.address,
        label=data.label,
        signing_secret=secret,
    )
    if trusted:
        method.verified_at = utcnow()
        method.verified_by = "setting"
    session.add(method)
    await session.flush()
    return method


async def list_contact_methods(*, session: AsyncSession, user_id: uuid.UUID) -> list[ContactMethod]:
    """A user's contact methods."""
    await get_or_404(session, User, user_id, what="user")
    query = select(ContactMethod).where(col(ContactMethod.user_id) == user_id)
    return list((await session.scalars(query.order_by(col(ContactMethod.created_at)))).all())


async def delete_contact_method(
    *, session: AsyncSession, user_id: uuid.UUID, method_id: uuid.UUID
) -> None:
    """Remove a contact method (its notification rules go with it)."""
    method = await get_owned_or_404(
        session, ContactMethod, method_id, user_id=user_id, what="contact method"
    )
    await session.delete(method)
    await session.flush()


async def add_notification_rule(
    *, session: AsyncSession, user_id: uuid.UUID, data: NotificationRuleCreate
) -> NotificationRule:
    """Add "when I am paged, use this contact method after N seconds"."""
    await get_or_404(session, User, user_id, what="user")
    method = await session.get(ContactMethod, data.contact_method_id)
    if method is None or method.user_id != user_id:
        raise field_error("contact_method_id", "not a contact method of this user")
    rule = NotificationRule(
        user_id=user_id,
        contact_method_id=method.id,
        delay_seconds=data.delay_seconds,
        urgency=data.urgency.value if data.urgency else None,
    )
    session.add(rule)
    await session.flush()
    return rule


async def list_notification_rules(
    *, session: AsyncSession, user_id: uuid.UUID
) -> list[NotificationRule]:
    """A user's notification rules, soonest first."""
    await get_or_404(session, User, user_id, what="user")
    query = select(NotificationRule).where(col(NotificationRule.user_id) == user_id)
    query = query.order_by(col(NotificationRule.delay_seconds))
    return list((await session.scalars(query)).all())


async def delete_notification_rule(
    *, session: AsyncSession, user_id: uuid.UUID, rule_id: uuid.UUID
) -> None:
    """Remove a notification rule."""
    rule = await get_owned_or_404(
        session, NotificationRule, rule_id, user_id=user_id, what="notification rule"
    )
    await session.delete(rule)
    await session.flush()


async def create_api_key(
    *, session: AsyncSession, user_id: uuid.UUID, data: ApiKeyCreate
) -> tuple[ApiKey, str]:
    """A new key acting as the user (with the user's role); the secret is returned once."""
    await get_or_404(session, User, user_id, what="user")
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise field_error("expires_at", "must be in the future")
    fresh = new_api_key()
    key = ApiKey(
        user_id=user_id,
        name=data.name,
        key_hash=fresh.key_hash,
        prefix=fresh.prefix,
        expires_at=data.expires_at,
    )
    session.add(key)
    await session.flush()
    return key, fresh.secret


async def list_api_keys(*, session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    """A user's keys (never their secrets)."""
    await get_or_404(session, User, user_id, what="user")
    query = select(ApiKey).where(col(ApiKey.user_id) == user_id).order_by(col(ApiKey.created_at))
    return list((await session.scalars(query)).all())


async def revoke_api_key(
    *, session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID, at: datetime
) -> ApiKey:
    """Revoke a key; it stops working at once."""
    # Locked: a user deleted meanwhile takes the key with them, and this is then a 404.
    key = await get_owned_or_404(
        session, ApiKey, key_id, user_id=user_id, what="API key", lock=True
    )
    if key.revoked_at is None:
        key.revoked_at = at
    await session.flush()
    return key
