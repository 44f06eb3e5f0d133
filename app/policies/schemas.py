"""Escalation policies with their levels inline."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from app.escalation.snapshot import Condition
from app.schemas import STRICT, HttpUrl, Name

MAX_LEVELS = 20
MAX_TARGETS = 50
MAX_ESCALATE_AFTER_SECONDS = 7 * 86400


class TargetType(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    # The team's on-call schedule, or its managers when it has none (docs/teams.md).
    TEAM = "team"
    WEBHOOK = "webhook"


class Target(BaseModel):
    model_config = STRICT
    type: TargetType
    id: uuid.UUID | None = None
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _shape(self) -> "Target":
        if self.type is TargetType.WEBHOOK:
            if self.url is None or self.id is not None:
                raise ValueError("a webhook target has a url and no id")
        elif self.id is None or self.url is not None:
            raise ValueError(f"a {self.type.value} target has an id and no url")
        return self


class Level(BaseModel):
    model_config = STRICT
    escalate_after_seconds: int = Field(ge=1, le=MAX_ESCALATE_AFTER_SECONDS)
    condition: Condition = Condition.UNACKNOWLEDGED
    targets: list[Target] = Field(min_length=1, max_length=MAX_TARGETS)


class PolicyCreate(BaseModel):
    model_config = STRICT
    name: Name
    description: str = Field(default="", max_length=2000)
    team_id: uuid.UUID | None = Field(default=None, description="The owning team; null: global")
    repeat: int = Field(default=0, ge=0, le=20)
    levels: list[Level] = Field(min_length=1, max_length=MAX_LEVELS)


class PolicyUpdate(BaseModel):
    """A partial update; `levels`, when given, replaces every level."""

    model_config = STRICT
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    team_id: uuid.UUID | None = None
    repeat: int | None = Field(default=None, ge=0, le=20)
    levels: list[Level] | None = Field(default=None, min_length=1, max_length=MAX_LEVELS)


class PolicyRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    team_id: uuid.UUID | None
    repeat: int
    levels: list[Level]
    created_at: datetime
    updated_at: datetime
