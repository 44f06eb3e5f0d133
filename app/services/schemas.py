"""Services and their integration keys."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import READ, STRICT, Name

DAY = 86400


class ServiceCreate(BaseModel):
    model_config = STRICT
    name: Name
    description: str = Field(default="", max_length=2000)
    escalation_policy_id: uuid.UUID
    team_id: uuid.UUID | None = Field(default=None, description="The owning team; null: global")
    ack_timeout_seconds: int | None = Field(default=None, ge=1, le=7 * DAY)
    auto_resolve_seconds: int | None = Field(default=None, ge=1, le=30 * DAY)


class ServiceUpdate(BaseModel):
    model_config = STRICT
    name: Name | None = None
    description: str | None = Field(default=None, max_length=2000)
    escalation_policy_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    ack_timeout_seconds: int | None = Field(default=None, ge=1, le=7 * DAY)
    auto_resolve_seconds: int | None = Field(default=None, ge=1, le=30 * DAY)


class ServiceRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    name: str
    description: str
    escalation_policy_id: uuid.UUID
    team_id: uuid.UUID | None
    ack_timeout_seconds: int | None
    auto_resolve_seconds: int | None
    created_at: datetime


AlertGrouping = Literal["group", "alert"]


class IntegrationKeyCreate(BaseModel):
    model_config = STRICT
    name: Name
    alert_grouping: AlertGrouping = Field(
        default="group",
        description="Alertmanager/Grafana webhooks: one incident per alert group or per alert",
    )


class IntegrationKeyRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    service_id: uuid.UUID
    name: str
    prefix: str
    alert_grouping: AlertGrouping
    created_at: datetime
    last_used_at: datetime | None


class IntegrationKeyCreated(IntegrationKeyRead):
    key: str = Field(description="The routing key; shown only once.")
