"""Inbound alert events accepted and durably queued, until a worker applies them in order."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity
from sqlmodel import Field, SQLModel

from app.models.base import json_field, timestamp_field


class InboundEvent(SQLModel, table=True):
    """One accepted event (PagerDuty Events v2); deleted once applied to its incident."""

    __tablename__ = "inbound_events"

    # Applied in this order: it is the order the events were accepted in.
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    service_id: uuid.UUID = Field(foreign_key="services.id", ondelete="CASCADE")
    action: str = Field(max_length=16)
    dedup_key: str = Field(max_length=255)
    # The trigger's fields (IncidentTrigger as JSON); empty for acknowledge/resolve.
    trigger: dict[str, Any] = json_field()
    actor: dict[str, Any] = json_field()
    received_at: datetime = timestamp_field(default_now=True)
