"""Services (what alerts are about) and their integration keys."""

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import id_field, timestamp_field


class Service(SQLModel, table=True):
    __tablename__ = "services"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200, unique=True)
    description: str = Field(default="", max_length=2000)
    # The owning team; None: a global object that only admins change.
    team_id: uuid.UUID | None = Field(
        default=None, foreign_key="teams.id", ondelete="RESTRICT", index=True
    )
    escalation_policy_id: uuid.UUID = Field(
        foreign_key="escalation_policies.id", ondelete="RESTRICT", index=True
    )
    ack_timeout_seconds: int | None = None
    auto_resolve_seconds: int | None = None
    created_at: datetime = timestamp_field(default_now=True)


class IntegrationKey(SQLModel, table=True):
    __tablename__ = "integration_keys"

    id: uuid.UUID = id_field()
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE", index=True)
    name: str = Field(max_length=200)
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    # Alertmanager/Grafana webhooks: one incident per alert group ("group") or per alert ("alert").
    alert_grouping: str = Field(
        default="group", max_length=8, sa_column_kwargs={"server_default": "group"}
    )
    created_at: datetime = timestamp_field(default_now=True)
    last_used_at: datetime | None = timestamp_field(nullable=True)
