"""Inbound alert events accepted and durably queued, until a worker applies them in order; and
the ones that could not be applied, set aside until an admin retries or discards them."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Identity, Index, Text, text
from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class InboundEvent(SQLModel, table=True):
    """One accepted event (PagerDuty Events v2); deleted once applied to its incident."""

    __tablename__ = "inbound_events"
    __table_args__: ClassVar[Any] = (
        # An event applied in its request waits behind queued events of its key (order kept).
        Index("ix_inbound_events_key", "service_id", "dedup_key"),
        Index(
            "ix_inbound_events_request",
            "request_id",
            postgresql_where=text("request_id IS NOT NULL"),
        ),
    )

    # Applied in this order: it is the order the events were accepted in.
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    action: str = Field(max_length=16)
    dedup_key: str = Field(max_length=255)
    # The trigger's fields (IncidentTrigger as JSON); empty for acknowledge/resolve.
    trigger: dict[str, Any] = json_field()
    actor: dict[str, Any] = json_field()
    received_at: datetime = timestamp_field(default_now=True)
    # Failed attempts to apply it so far, and the error of the last one.
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The sender's handle on the event, when its protocol gives one (Opsgenie's requestId).
    request_id: uuid.UUID | None = None


class DeadInboundEvent(SQLModel, table=True):
    """An accepted event that failed every attempt to apply it, with its error: kept (never
    silently dropped) until an admin retries it (back into the inbox) or discards it."""

    __tablename__ = "inbound_dead_events"

    # The id it had in the inbox.
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    action: str = Field(max_length=16)
    dedup_key: str = Field(max_length=255)
    trigger: dict[str, Any] = json_field()
    actor: dict[str, Any] = json_field()
    received_at: datetime = timestamp_field()
    attempts: int
    error: str = Field(sa_column=Column(Text, nullable=False))
    dead_at: datetime = timestamp_field(default_now=True)
    request_id: uuid.UUID | None = Field(default=None, index=True)


class InboundReceipt(SQLModel, table=True):
    """How an event sent with a request id was applied, for the sender to ask later
    (Opsgenie's `GET /v2/alerts/requests/{requestId}`)."""

    __tablename__ = "inbound_receipts"

    request_id: uuid.UUID = Field(primary_key=True)
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    action: str = Field(max_length=16)
    dedup_key: str = Field(max_length=255)
    incident_id: uuid.UUID | None = None
    outcome: str = Field(max_length=16)
    processed_at: datetime = timestamp_field(index=True)
