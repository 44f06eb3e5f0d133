"""On-call schedules: ordered rotation layers and time-boxed overrides."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, timestamp_field


class Schedule(SQLModel, table=True):
    __tablename__ = "schedules"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200, unique=True)
    time_zone: str = Field(max_length=64)
    description: str = Field(default="", max_length=2000)
    # The owning team; None: a global object that only admins change.
    team_id: uuid.UUID | None = Field(
        default=None, foreign_key="teams.id", ondelete="RESTRICT", index=True
    )
    created_at: datetime = timestamp_field(default_now=True)
    updated_at: datetime = timestamp_field(default_now=True)


class ScheduleLayer(SQLModel, table=True):
    """One rotation; a higher `position` wins where it has someone on call."""

    __tablename__ = "schedule_layers"

    id: uuid.UUID = id_field()
    schedule_id: uuid.UUID = Field(foreign_key="schedules.id", ondelete="CASCADE", index=True)
    position: int
    # Ordered user ids (as strings); a deleted user stays in the rotation and is unreachable.
    participants: list[str] = json_field(default_factory=list)
    turn_seconds: int
    start: datetime = timestamp_field()
    restrictions: list[dict[str, Any]] = json_field(default_factory=list)


class ScheduleOverride(SQLModel, table=True):
    """`user_id` is on call from `start` to `end`; a later-created override beats an earlier one."""

    __tablename__ = "schedule_overrides"
    __table_args__: ClassVar[Any] = (
        Index("ix_schedule_overrides_window", "schedule_id", "end", "start"),
    )

    id: uuid.UUID = id_field()
    schedule_id: uuid.UUID = Field(foreign_key="schedules.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    start: datetime = timestamp_field()
    end: datetime = timestamp_field()
    created_at: datetime = timestamp_field(default_now=True)
