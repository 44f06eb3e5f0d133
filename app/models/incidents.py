"""Incidents, their timeline, and the notification outbox."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Identity, Index, text
from sqlmodel import Field, SQLModel

from app.models.base import id_field, json_field, timestamp_field

OPEN_STATUSES = ("triggered", "acknowledged")


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__: ClassVar[Any] = (
        # Dedup among open incidents is enforced by the database, not by read-then-write.
        Index(
            "uq_incidents_open_dedup_key",
            "service_id",
            "dedup_key",
            unique=True,
            postgresql_where=text("status IN ('triggered', 'acknowledged')"),
        ),
        Index(
            "ix_incidents_due",
            "next_due_at",
            postgresql_where=text("next_due_at IS NOT NULL"),
        ),
        Index("ix_incidents_created", "created_at", "id"),
        # The console's status filters (open, triggered, ...), newest first.
        Index("ix_incidents_status_created", "status", "created_at", "id"),
        Index("ix_incidents_priority_created", "priority", "created_at", "id"),
        Index(
            "ix_incidents_ack_timeout",
            "ack_timeout_at",
            postgresql_where=text("ack_timeout_at IS NOT NULL"),
        ),
        Index(
            "ix_incidents_auto_resolve",
            "auto_resolve_at",
            postgresql_where=text("auto_resolve_at IS NOT NULL"),
        ),
        # "Mine": the incidents whose policy names a user or schedule (`policy_snapshot @> ...`).
        Index(
            "ix_incidents_policy_snapshot",
            "policy_snapshot",
            postgresql_using="gin",
            postgresql_ops={"policy_snapshot": "jsonb_path_ops"},
        ),
    )

    id: uuid.UUID = id_field()
    number: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, Identity(), unique=True, nullable=False),
    )
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="RESTRICT", index=True)
    title: str = Field(max_length=1024)
    severity: str = Field(max_length=16)
    urgency: str = Field(default="high", max_length=8)
    # P1 (highest) to P5: given by the sender (Opsgenie) or derived from the severity.
    priority: str = Field(default="P3", max_length=2, sa_column_kwargs={"server_default": "P3"})
    status: str = Field(default="triggered", max_length=16, index=True)
    source: str = Field(default="", max_length=255)
    dedup_key: str = Field(max_length=255)
    details: dict[str, Any] = json_field()
    alert_count: int = 1

    policy_id: uuid.UUID | None = None
    policy_snapshot: dict[str, Any] = json_field()
    escalation_level: int = 1
    escalation_loop: int = 0
    # None until the worker enters the level; the step due at next_due_at enters it.
    level_entered_at: datetime | None = timestamp_field(nullable=True)
    next_due_at: datetime | None = timestamp_field(nullable=True)
    # Fencing token: a step job carrying an older token is stale and does nothing.
    step_token: int = 0
    exhausted: bool = False
    # Bumped whenever the chain is restarted or moved by hand, so page idempotency keys differ.
    escalation_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The highest level ever entered (reports: escalation rate); 0 until level 1 is entered.
    max_level_reached: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Lifecycle timers: when an acknowledgement lapses (ack timeout or snooze end), auto-resolve.
    ack_timeout_at: datetime | None = timestamp_field(nullable=True)
    snoozed_until: datetime | None = timestamp_field(nullable=True)
    auto_resolve_at: datetime | None = timestamp_field(nullable=True)
    merged_into_id: uuid.UUID | None = Field(
        default=None, foreign_key="incidents.id", ondelete="SET NULL"
    )
    first_acknowledged_at: datetime | None = timestamp_field(nullable=True)
    first_acknowledged_by: dict[str, Any] | None = json_field(default_factory=lambda: None)

    created_at: datetime = timestamp_field(default_now=True)
    updated_at: datetime = timestamp_field(default_now=True)
    acknowledged_at: datetime | None = timestamp_field(nullable=True)
    acknowledged_by: dict[str, Any] | None = json_field(default_factory=lambda: None)
    resolved_at: datetime | None = timestamp_field(nullable=True)
    resolved_by: dict[str, Any] | None = json_field(default_factory=lambda: None)


class TimelineEntry(SQLModel, table=True):
    __tablename__ = "timeline_entries"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    at: datetime = timestamp_field(default_now=True)
    type: str = Field(max_length=40)
    actor: dict[str, Any] = json_field()
    details: dict[str, Any] = json_field()


class Notification(SQLModel, table=True):
    """One page to deliver (the outbox), written in the transaction that decided it."""

    __tablename__ = "notifications"
    __table_args__: ClassVar[Any] = (
        Index(
            "ix_notifications_pending_due",
            "due_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # "Mine": the incidents that paged a user.
        Index("ix_notifications_user_incident", "user_id", "incident_id"),
    )

    id: uuid.UUID = id_field()
    incident_id: uuid.UUID = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    level: int
    loop: int
    condition: str = Field(default="unacknowledged", max_length=20)
    target_type: str = Field(max_length=20)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    contact_method_id: uuid.UUID | None = Field(
        default=None, foreign_key="contact_methods.id", ondelete="SET NULL"
    )
    channel: str = Field(max_length=20)
    address: str = Field(max_length=2048)
    idempotency_key: str = Field(max_length=255, unique=True)
    status: str = Field(default="pending", max_length=16)
    due_at: datetime = timestamp_field(default_now=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = timestamp_field(default_now=True)
    sent_at: datetime | None = timestamp_field(nullable=True)


class InstanceSecret(SQLModel, table=True):
    """Secrets generated once per installation (e.g. the action-link signing key)."""

    __tablename__ = "instance_secrets"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=256)
