"""Heartbeats as the API takes and shows them."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import READ, STRICT, Name

MAX_INTERVAL_SECONDS = 30 * 86400


class HeartbeatCreate(BaseModel):
    model_config = STRICT
    service_id: uuid.UUID
    name: Name
    interval_seconds: int = Field(ge=1, le=MAX_INTERVAL_SECONDS)


class HeartbeatUpdate(BaseModel):
    model_config = STRICT
    name: Name | None = None
    interval_seconds: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_SECONDS)


class HeartbeatRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    service_id: uuid.UUID
    name: str
    interval_seconds: int
    status: Literal["waiting", "up", "down"]
    last_ping_at: datetime | None
    due_at: datetime | None = Field(description="A ping must arrive before this instant")
    created_at: datetime
