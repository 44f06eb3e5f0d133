"""Teams and their members."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import READ, STRICT, Name

TeamRole = Literal["manager", "responder", "observer"]


class TeamCreate(BaseModel):
    model_config = STRICT
    name: Name
    description: str = Field(default="", max_length=2000)
    oncall_schedule_id: uuid.UUID | None = Field(
        default=None,
        description="The schedule a team escalation target pages; none: the team's managers",
    )


class TeamUpdate(BaseModel):
    model_config = STRICT
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    oncall_schedule_id: uuid.UUID | None = None


class TeamRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    name: str
    description: str
    oncall_schedule_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class MemberCreate(BaseModel):
    model_config = STRICT
    user_id: uuid.UUID
    role: TeamRole


class MemberUpdate(BaseModel):
    model_config = STRICT
    role: TeamRole


class MemberRead(BaseModel):
    team_id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    email: str
    global_role: str
    role: TeamRole
    created_at: datetime
