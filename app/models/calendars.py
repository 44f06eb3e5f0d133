"""Secret-token iCalendar feeds: one person's shifts, or all of a schedule's."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from app.models.base import id_field, timestamp_field


class CalendarFeed(SQLModel, table=True):
    """A feed URL's token (hashed); rotating replaces it, so the old URL stops working."""

    __tablename__ = "calendar_feeds"
    __table_args__: ClassVar[Any] = (
        CheckConstraint("(user_id IS NULL) <> (schedule_id IS NULL)", name="one_owner"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", unique=True
    )
    schedule_id: uuid.UUID | None = Field(
        default=None, foreign_key="schedules.id", ondelete="CASCADE", unique=True
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = timestamp_field(default_now=True)
