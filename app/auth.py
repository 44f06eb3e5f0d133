"""Bearer API keys and role checks."""

import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import col

from app.api_limits import enforce
from app.audit_log import set_actor
from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthorized
from app.models import ApiKey, IntegrationKey, Service, User, utcnow
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
# Marks the last-used write, which changes no grant (see `_note_grant_statements`).
_TOUCH = "stairway_key_touch"


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
        .execution_options(**{_TOUCH: True})
    )


def _due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or last_used_at < now - LAST_USED_RESOLUTION


@dataclass(frozen=True, slots=True)
class Grant:
    """What a live (unrevoked) key stands for, as read from PostgreSQL."""

    principal: Principal
    model: type[ApiKey] | type[IntegrationKey]
    key_id: uuid.UUID
    expires_at: datetime | None
    last_used_at: datetime | None


class GrantCache:
    """Grants by key hash, each used for `ttl_seconds` after it was read, then read again.

    Every request of a busy key would otherwise read the same rows again. Cleared whenever this
    process commits a change to a key, a user or a service, so only another process's change
    waits for the TTL; an expiry instant is checked on every use.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._grants: dict[str, tuple[float, Grant]] = {}

    def get(self, digest: str, *, ttl_seconds: float) -> Grant | None:
        """The grant read less than `ttl_seconds` ago, if any."""
        entry = self._grants.get(digest)
        if entry is None or self.clock() - entry[0] >= ttl_seconds:
            return None
        return entry[1]

    def put(self, digest: str, grant: Grant, *, read_at: float | None = None) -> None:
        if len(self._grants) >= self.MAX_ENTRIES:
            self._grants.clear()  # many keys in use: start over rather than grow
        self._grants[digest] = (self.clock() if read_at is None else read_at, grant)

    def touched(self, digest: str, at: datetime) -> None:
        """This process wrote the key's last-used time."""
        entry = self._grants.get(digest)
        if entry is not None:
            self._grants[digest] = (entry[0], replace(entry[1], last_used_at=at))

    def clear(self) -> None:
        self._grants.clear()


GRANTS = GrantCache()
_GRANT_MODELS = (ApiKey, IntegrationKey, User, Service)
_GRANTS_CHANGED = "grants_changed"


@event.listens_for(Session, "after_flush")
def _note_grant_changes(session: Session, _context: Any) -> None:
    changed = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, _GRANT_MODELS) for obj in changed):
        session.info[_GRANTS_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_grant_statements(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(_TOUCH):
        return
    if any(mapper.class_ in _GRANT_MODELS for mapper in state.all_mappers):
        state.session.info[_GRANTS_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_grants(session: Session) -> None:
    if session.info.pop(_GRANTS_CHANGED, False):
        GRANTS.clear()


@event.listens_for(Session, "after_rollback")
def _keep_grants(session: Session) -> None:
    session.info.pop(_GRANTS_CHANGED, None)


async def _read_grant(session: SessionDep, digest: str) -> Grant | None:
    row = (
        await session.execute(
            select(
                col(ApiKey.id),
                col(User.id),
                col(User.name),
                col(User.role),
                col(ApiKey.expires_at),
                col(ApiKey.last_used_at),
            )
            .join(User, col(User.id) == col(ApiKey.user_id))
            .where(col(ApiKey.key_hash) == digest, col(ApiKey.revoked_at).is_(None))
        )
    ).first()
    if row is not None:
        key_id, user_id, name, role, expires_at, last_used_at = row
        principal = Principal(role=role, name=name, user_id=user_id, key_id=key_id)
        return Grant(principal, ApiKey, key_id, expires_at, last_used_at)
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
        principal = Principal(role="integration", name=name, service_id=service_id, key_id=key_id)
        return Grant(principal, IntegrationKey, key_id, None, last_used_at)
    return None


async def authenticate(
    *, session: SessionDep, token: str, cache_seconds: float = 0.0
) -> Principal | None:
    """The principal a key belongs to, or None for an unknown, revoked or expired key.

    `cache_seconds`: how long a grant read from PostgreSQL may be used again (`GRANTS`).
    """
    digest = hash_key(token)
    now = utcnow()
    grant = GRANTS.get(digest, ttl_seconds=cache_seconds) if cache_seconds > 0 else None
    if grant is None:
        read_at = GRANTS.clock()
        grant = await _read_grant(session, digest)
        if grant is None:
            return None
        if cache_seconds > 0:
            GRANTS.put(digest, grant, read_at=read_at)
    if grant.expires_at is not None and grant.expires_at <= now:
        return None
    if _due(grant.last_used_at, now):
        await _touch(session, grant.model, grant.key_id, now)
        GRANTS.touched(digest, now)
    return grant.principal


async def get_principal(request: Request, response: Response, session: SessionDep) -> Principal:
    """The authenticated caller (401 otherwise), within its key's rate limit (429 otherwise)."""
    settings: Settings = request.app.state.settings
    principal = await authenticate(
        session=session, token=_bearer(request), cache_seconds=settings.api_key_cache_seconds
    )
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
