"""Small query helpers shared by the domain services."""

import uuid
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from app.errors import Conflict, NotFound

M = TypeVar("M", bound=SQLModel)


async def get_or_404(
    session: AsyncSession, model: type[M], id_: uuid.UUID, *, what: str, lock: bool = False
) -> M:
    """The row with this id, or a 404 naming what was looked for."""
    row = await session.get(model, id_, with_for_update=lock)
    if row is None:
        raise NotFound(f"{what} {id_} not found")
    return row


async def get_owned_or_404(
    session: AsyncSession,
    model: type[M],
    id_: uuid.UUID,
    *,
    user_id: uuid.UUID,
    what: str,
    lock: bool = False,
) -> M:
    """A row belonging to this user, or a 404 (another user's row is not revealed); `lock`
    holds it until commit (a row deleted meanwhile, e.g. with its user, is then a 404)."""
    row = await session.get(model, id_, with_for_update=lock, populate_existing=lock)
    if row is None or getattr(row, "user_id", None) != user_id:
        raise NotFound(f"{what} {id_} not found")
    return row


async def flush_unique(session: AsyncSession, *, field: str, message: str) -> None:
    """Flush; a unique-constraint violation becomes a 409 naming `field`, the rest rolls on."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(message, details={"field": field}) from exc


def apply_changes(row: SQLModel, changes: dict[str, Any]) -> None:
    """Copy the fields a PATCH set onto a row."""
    for field, value in changes.items():
        setattr(row, field, value)
