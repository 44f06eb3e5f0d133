"""GET /api/v1/audit: the audit log, newest first (admins only)."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import col

from app.auth import Admin
from app.db import SessionDep
from app.errors import field_error
from app.models import AuditEntry
from app.schemas import READ

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditRead(BaseModel):
    model_config = READ
    seq: int
    at: datetime
    actor: dict[str, Any]
    action: str
    resource_type: str
    resource_id: uuid.UUID
    changes: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None


def _after(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 19:
        raise field_error("cursor", "not a cursor this API returned")
    return int(cursor)


@router.get("")
async def list_audit(
    session: SessionDep,
    _: Admin,
    resource_type: Annotated[str | None, Query(max_length=40)] = None,
    resource_id: uuid.UUID | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> AuditPage:
    """Who created, changed or deleted which configuration object, newest first."""
    query = select(AuditEntry)
    if resource_type is not None:
        query = query.where(col(AuditEntry.resource_type) == resource_type)
    if resource_id is not None:
        query = query.where(col(AuditEntry.resource_id) == resource_id)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if cursor is not None:
        query = query.where(col(AuditEntry.seq) < _after(cursor))
    query = query.order_by(col(AuditEntry.seq).desc()).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
    return AuditPage(
        items=[AuditRead.model_validate(r) for r in rows[:limit]], next_cursor=next_cursor
    )
