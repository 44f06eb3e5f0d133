"""Bearer API keys and role checks."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy import or_, select, update
from sqlmodel import col

from app.api_limits import enforce
from app.audit.recorder import set_actor
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.models import ApiKey, IntegrationKey, User, utcnow
from app.security import hash_key

ROLE_RANK = {"observer": 1, "responder": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (with the user's role) or an integration bound to one service."""

    role: str
    name: str
    user_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None

    @property
    def is_integration(self) -> bool:
        """True for integration keys."""
        return self.role == "integration"

    def actor(self) -> dict[str, Any]:
        """How this principal appears on timelines."""
        if self.is_integration:
            return {"type": "integration", "id": str(self.key_id), "name": self.name}
        return {"type": "user", "id": str(self.user_id), "name": self.name}


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "missing API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


# last_used_at is refreshed at most this often, so a busy key is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def _touch(
    session: SessionDep,
    model: type[ApiKey] | type[IntegrationKey],
    key_id: uuid.UUID,
    now: datetime,
) -> None:
    stale = now - LAST_USED_RESOLUTION
    await session.execute(
        update(model)
        .where(col(model.id) == key_id)
        .where(or_(col(model.last_used_at).is_(None), col(model.last_used_at) < stale))
        .values(last_used_at=now)
    )


def _due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or last_used_at < now - LAST_USED_RESOLUTION


async def authenticate(*, session: SessionDep, token: str) -> Principal | None:
    """The principal a key belongs to, or None for an unknown, revoked or expired key."""
    digest = hash_key(token)
    now = utcnow()
    row = (
        await session.execute(
            select(
                col(ApiKey.id),
                col(User.id),
                col(User.name),
                col(User.role),
                col(ApiKey.last_used_at),
            )
            .join(User, col(User.id) == col(ApiKey.user_id))
            .where(col(ApiKey.key_hash) == digest, col(ApiKey.revoked_at).is_(None))
            .where(or_(col(ApiKey.expires_at).is_(None), col(ApiKey.expires_at) > now))
        )
    ).first()
    if row is not None:
        key_id, user_id, name, role, last_used_at = row
        if _due(last_used_at, now):
            await _touch(session, ApiKey, key_id, now)
        return Principal(role=role, name=name, user_id=user_id, key_id=key_id)
    integ = (
        await session.execute(
            select(
                col(IntegrationKey.id),
                col(IntegrationKey.name),
                col(IntegrationKey.service_id),
                col(IntegrationKey.last_used_at),
            ).where(col(IntegrationKey.key_hash) == digest)
        )
    ).first()
    if integ is not None:
        key_id, name, service_id, last_used_at = integ
        if _due(last_used_at, now):
            await _touch(session, IntegrationKey, key_id, now)
        return Principal(role="integration", name=name, service_id=service_id, key_id=key_id)
    return None


async def get_principal(request: Request, response: Response, session: SessionDep) -> Principal:
    """The authenticated caller (401 otherwise), within its key's rate limit (429 otherwise)."""
    principal = await authenticate(session=session, token=_bearer(request))
    if principal is None:
        raise Unauthorized("invalid API key", headers={"WWW-Authenticate": "Bearer"})
    await enforce(request, response, str(principal.key_id))
    # Whatever this request changes is audited as done by this principal.
    set_actor(session, principal.actor())
    return principal


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting users of at least `role` (integration keys are refused)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if ROLE_RANK.get(principal.role, 0) < ROLE_RANK[role]:
            raise Forbidden(f"this action needs the {role} role")
        return principal

    return check


AnyPrincipal = Annotated[Principal, Depends(get_principal)]
Observer = Annotated[Principal, Depends(require("observer"))]
Responder = Annotated[Principal, Depends(require("responder"))]
Admin = Annotated[Principal, Depends(require("admin"))]
