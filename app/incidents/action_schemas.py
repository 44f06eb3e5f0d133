"""Request bodies of the manual incident actions (snooze, escalate, reassign, notes, merge)."""

import uuid

from pydantic import BaseModel, Field, field_validator

from app.schemas import STRICT

WEEK_SECONDS = 7 * 86400
MAX_MERGE_SOURCES = 100


class SnoozeRequest(BaseModel):
    model_config = STRICT
    duration_seconds: int = Field(ge=1, le=WEEK_SECONDS)


class EscalateRequest(BaseModel):
    model_config = STRICT
    level: int | None = Field(
        default=None, ge=1, description="The level to page now; the next level if absent."
    )
    from_level: int | None = Field(
        default=None,
        ge=1,
        description="The level the caller saw: if the incident has moved since, nothing happens.",
    )


class ReassignRequest(BaseModel):
    model_config = STRICT
    escalation_policy_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


class NoteCreate(BaseModel):
    model_config = STRICT
    text: str = Field(min_length=1, max_length=10_000)


class MergeRequest(BaseModel):
    model_config = STRICT
    source_incident_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_MERGE_SOURCES)

    @field_validator("source_incident_ids")
    @classmethod
    def _distinct(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("lists an incident more than once")
        return value
