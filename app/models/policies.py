"""Escalation policies: ordered levels, each with targets notified in parallel."""

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import id_field, timestamp_field


class EscalationPolicy(SQLModel, table=True):
    __tablename__ = "escalation_policies"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200, unique=True)
    description: str = Field(default="", max_length=2000)
    # The owning team; None: a global object that only admins change.
    team_id: uuid.UUID | None = Field(
        default=None, foreign_key="teams.id", ondelete="RESTRICT", index=True
    )
    repeat: int = 0
    created_at: datetime = timestamp_field(default_now=True)
    updated_at: datetime = timestamp_field(default_now=True)


class EscalationLevel(SQLModel, table=True):
    __tablename__ = "escalation_levels"

    id: uuid.UUID = id_field()
    policy_id: uuid.UUID = Field(
        foreign_key="escalation_policies.id", ondelete="CASCADE", index=True
    )
    position: int
    escalate_after_seconds: int
    condition: str = Field(default="unacknowledged", max_length=20)


class EscalationTarget(SQLModel, table=True):
    __tablename__ = "escalation_targets"

    id: uuid.UUID = id_field()
    level_id: uuid.UUID = Field(foreign_key="escalation_levels.id", ondelete="CASCADE", index=True)
    position: int
    type: str = Field(max_length=20)
    # A user or schedule id; outbound webhook targets carry a URL instead.
    target_id: uuid.UUID | None = Field(default=None, index=True)
    url: str | None = Field(default=None, max_length=2048)
