"""Shared column helpers and the constraint naming convention (stable Alembic autogenerate)."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current instant, timezone-aware."""
    return datetime.now(UTC)


def id_field() -> Any:
    """A client-invisible UUID primary key generated in Python."""
    return Field(default_factory=uuid.uuid4, primary_key=True)


def timestamp_field(
    *, nullable: bool = False, default_now: bool = False, index: bool = False
) -> Any:
    """A timezone-aware timestamp column."""
    if default_now:
        return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), index=index)
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


def json_field(*, default_factory: Any = dict) -> Any:
    """A JSONB column."""
    return Field(default_factory=default_factory, sa_type=JSONB)
