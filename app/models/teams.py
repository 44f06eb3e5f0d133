"""Teams: members with a team role, owning services, escalation policies and schedules."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Column, ForeignKey, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import id_field, timestamp_field

TEAM_ROLES = ("manager", "responder", "observer")


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200, unique=True)
    description: str = Field(default="", max_length=2000)
    # Who a team escalation target pages; with none (or nobody on call), the team's managers.
    # use_alter: schedules also point at teams, and the two tables must still sort for DDL.
    oncall_schedule_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(
            ForeignKey(
                "schedules.id",
                ondelete="SET NULL",
                use_alter=True,
                name="fk_teams_oncall_schedule_id_schedules",
            ),
            nullable=True,
        ),
    )
    created_at: datetime = timestamp_field(default_now=True)
    updated_at: datetime = timestamp_field(default_now=True)


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_members"
    __table_args__: ClassVar[Any] = (
        UniqueConstraint("team_id", "user_id", name="uq_team_members_team_user"),
    )

    id: uuid.UUID = id_field()
    team_id: uuid.UUID = Field(foreign_key="teams.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    role: str = Field(max_length=20)
    created_at: datetime = timestamp_field(default_now=True)
