"""Webhook subscription and delivery shapes."""

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from app.schemas import READ, STRICT, HttpUrl


class EventType(StrEnum):
    TRIGGERED = "incident.triggered"
    ACKNOWLEDGED = "incident.acknowledged"
    UNACKNOWLEDGED = "incident.unacknowledged"
    ESCALATED = "incident.escalated"
    REASSIGNED = "incident.reassigned"
    RESOLVED = "incident.resolved"
    NOTE_ADDED = "incident.note_added"


class SubscriptionCreate(BaseModel):
    model_config = STRICT
    url: HttpUrl
    description: str = Field(default="", max_length=2000)
    event_types: list[EventType] = Field(
        default_factory=list, max_length=20, description="Empty: every event type."
    )
    service_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=200, description="Empty: every service."
    )
    enabled: bool = True


class SubscriptionUpdate(BaseModel):
    model_config = STRICT
    url: HttpUrl | None = None
    description: str | None = Field(default=None, max_length=2000)
    event_types: list[EventType] | None = Field(default=None, max_length=20)
    service_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    enabled: bool | None = Field(
        default=None, description="true re-enables a disabled subscription and resumes delivery."
    )


class SubscriptionRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    url: str
    description: str
    event_types: list[EventType]
    service_ids: list[uuid.UUID]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="Deliveries are signed with this; shown only once.")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    incident_id: uuid.UUID
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
