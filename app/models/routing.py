"""Per-service routing rules (the escalation matrix), maintenance windows and heartbeats."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, timestamp_field


class RoutingRule(SQLModel, table=True):
    """Ordered per service; the first rule whose conditions all hold decides."""

    __tablename__ = "routing_rules"
    __table_args__: ClassVar[Any] = (UniqueConstraint("service_id", "position"),)

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    position: int
    name: str = Field(default="", max_length=200)
    # [{"field": "severity" | "summary" | "source" | "labels.x" | "details.a.b",
    #   "op": "equals" | "regex", "value": str | [str, ...]}]
    conditions: list[dict[str, Any]] = json_field(default_factory=list)
    escalation_policy_id: uuid.UUID | None = Field(
        default=None, foreign_key="escalation_policies.id", ondelete="RESTRICT", index=True
    )
    urgency: str | None = Field(default=None, max_length=8)
    suppress: bool = False
    created_at: datetime = timestamp_field(default_now=True)


class MaintenanceWindow(SQLModel, table=True):
    """While one is in effect, a service's new incidents are recorded but nobody is paged."""

    __tablename__ = "maintenance_windows"
    __table_args__: ClassVar[Any] = (
        Index("ix_maintenance_windows_service_span", "service_id", "ends_at", "starts_at"),
    )

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    starts_at: datetime = timestamp_field()
    ends_at: datetime = timestamp_field()
    description: str = Field(default="", max_length=2000)
    created_at: datetime = timestamp_field(default_now=True)


class Heartbeat(SQLModel, table=True):
    """A dead man's switch: a missed ping triggers an incident, the next ping resolves it."""

    __tablename__ = "heartbeats"
    __table_args__: ClassVar[Any] = (
        UniqueConstraint("service_id", "name"),
        Index("ix_heartbeats_due", "due_at", postgresql_where=text("status = 'up'")),
    )

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    interval_seconds: int
    # waiting (never pinged), up (pinged within the interval), down (missed; incident open)
    status: str = Field(default="waiting", max_length=16)
    last_ping_at: datetime | None = timestamp_field(nullable=True)
    due_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(default_now=True)
