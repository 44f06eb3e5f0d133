"""Schedules with their layers inline, overrides, and who is on call."""

import uuid
from datetime import datetime, time
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.schemas import STRICT, Name, TimeZone

MAX_LAYERS = 20
MAX_PARTICIPANTS = 100
MAX_RESTRICTIONS = 50
# The longest on-call window one request may render.
MAX_RENDER_DAYS = 90


class Rotation(StrEnum):
    """Turn-length presets; `turn_seconds` takes any other length."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


ROTATION_SECONDS = {Rotation.HOURLY: 3600, Rotation.DAILY: 86_400, Rotation.WEEKLY: 604_800}


class RestrictionIn(BaseModel):
    """A daily or weekly local window (in the schedule's time zone) the layer is on call in."""

    model_config = STRICT
    kind: Literal["daily", "weekly"]
    start: time = Field(description="Local wall-clock time, e.g. 09:00.")
    duration_seconds: int
    start_weekday: int | None = Field(default=None, description="Weekly only: 0 = Monday.")


class LayerIn(BaseModel):
    model_config = STRICT
    participants: list[uuid.UUID] = Field(max_length=MAX_PARTICIPANTS)
    turn_seconds: int | None = Field(default=None, description="Turn length; or use `rotation`.")
    rotation: Rotation | None = Field(default=None, description="A preset turn length.")
    start: datetime = Field(description="The first handoff instant (with a UTC offset).")
    restrictions: list[RestrictionIn] = Field(default_factory=list, max_length=MAX_RESTRICTIONS)

    @model_validator(mode="after")
    def _one_turn_length(self) -> "LayerIn":
        if (self.turn_seconds is None) == (self.rotation is None):
            raise ValueError("give exactly one of turn_seconds and rotation")
        if self.rotation is not None:
            self.turn_seconds = ROTATION_SECONDS[self.rotation]
        return self


class ScheduleCreate(BaseModel):
    model_config = STRICT
    name: Name
    time_zone: TimeZone
    description: str = Field(default="", max_length=2000)
    team_id: uuid.UUID | None = Field(default=None, description="The owning team; null: global")
    layers: list[LayerIn] = Field(default_factory=list, max_length=MAX_LAYERS)


class ScheduleUpdate(BaseModel):
    """A partial update; `layers`, when given, replaces every layer."""

    model_config = STRICT
    name: Name | None = None
    time_zone: TimeZone | None = None
    description: str | None = Field(default=None, max_length=2000)
    team_id: uuid.UUID | None = None
    layers: list[LayerIn] | None = Field(default=None, max_length=MAX_LAYERS)


class RestrictionRead(BaseModel):
    kind: str
    start: time
    duration_seconds: int
    start_weekday: int | None


class LayerRead(BaseModel):
    participants: list[uuid.UUID]
    turn_seconds: int
    start: datetime
    restrictions: list[RestrictionRead]


class ScheduleRead(BaseModel):
    id: uuid.UUID
    name: str
    time_zone: str
    description: str
    team_id: uuid.UUID | None
    layers: list[LayerRead]
    created_at: datetime
    updated_at: datetime


class OverrideCreate(BaseModel):
    model_config = STRICT
    user_id: uuid.UUID
    start: datetime
    end: datetime


class OverrideRead(BaseModel):
    id: uuid.UUID
    schedule_id: uuid.UUID
    user_id: uuid.UUID
    start: datetime
    end: datetime
    created_at: datetime


class ShiftRead(BaseModel):
    """One person on call over [start, end) and what put them there."""

    user_id: uuid.UUID
    user_name: str | None = Field(description="None when the user no longer exists.")
    start: datetime
    end: datetime
    source: Literal["layer", "override"]
    layer: int | None = Field(default=None, description="Index into `layers` (0 = lowest).")
    override_id: uuid.UUID | None = None


class OnCallAt(BaseModel):
    schedule_id: uuid.UUID
    at: datetime
    on_call: ShiftRead | None


class OnCallWindow(BaseModel):
    schedule_id: uuid.UUID
    start: datetime = Field(serialization_alias="from")
    until: datetime
    shifts: list[ShiftRead]


class CalendarFeedCreated(BaseModel):
    url: str = Field(
        description="The feed to subscribe to; shown only once. A new one replaces it."
    )
