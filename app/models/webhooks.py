"""Outbound event webhooks: subscriptions and their delivery outbox."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Identity, Index, Text, text
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, timestamp_field


class WebhookSubscription(SQLModel, table=True):
    """A URL that receives signed incident events (optionally filtered by type and service)."""

    __tablename__ = "webhook_subscriptions"

    id: uuid.UUID = id_field()
    url: str = Field(max_length=2048)
    description: str = Field(default="", max_length=2000)
    # Empty lists mean "every event type" / "every service".
    event_types: list[str] = json_field(default_factory=list)
    service_ids: list[str] = json_field(default_factory=list)
    # Signs deliveries; shown once on creation.
    secret: str = Field(max_length=128)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=2000)
    disabled_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(default_now=True)
    updated_at: datetime = timestamp_field(default_now=True)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription (the outbox), written with the change it reports."""

    __tablename__ = "webhook_deliveries"
    __table_args__: ClassVar[Any] = (
        # The head of each (subscription, incident) lane: delivered in `seq` order.
        Index(
            "ix_webhook_deliveries_pending_lane",
            "subscription_id",
            "incident_id",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    # Sent as X-Stairway-Delivery: the same on every retry, so receivers can dedup.
    id: uuid.UUID = id_field()
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(), unique=True, nullable=False)
    )
    subscription_id: uuid.UUID = Field(
        foreign_key="webhook_subscriptions.id", ondelete="CASCADE", index=True
    )
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    event_id: uuid.UUID
    event_type: str = Field(max_length=40)
    # The exact JSON sent (every retry sends the same bytes).
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = timestamp_field(default_now=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = timestamp_field(default_now=True)
    delivered_at: datetime | None = timestamp_field(nullable=True)
