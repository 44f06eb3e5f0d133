"""The audit log: who created, changed or deleted which configuration object, and when."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity
from sqlmodel import Column, Field, SQLModel

from app.models.base import json_field, timestamp_field


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    # A sequence, so entries have a total order to page through.
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(), primary_key=True)
    )
    at: datetime = timestamp_field(default_now=True, index=True)
    # {"type": "user" | "integration" | "system", "id": ..., "name": ...}
    actor: dict[str, Any] = json_field()
    action: str = Field(max_length=10)
    resource_type: str = Field(max_length=40)
    resource_id: uuid.UUID = Field(index=True)
    # Changed fields: {"field": {"old": ..., "new": ...}}; secrets appear as "[redacted]".
    changes: dict[str, Any] = json_field()
