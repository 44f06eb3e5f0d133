"""On-call notices to people: handoffs, reminders and coverage-gap warnings, one row per send."""

import uuid
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import id_field, timestamp_field


class OncallNotice(SQLModel, table=True):
    """One notice to one contact method; the unique key is what makes it once per occasion."""

    __tablename__ = "oncall_notices"
    __table_args__: ClassVar[Any] = (
        UniqueConstraint(
            "kind", "schedule_id", "contact_method_id", "occasion_at", name="uq_oncall_notices_once"
        ),
        Index(
            "ix_oncall_notices_pending", "next_attempt_at", postgresql_where="status = 'pending'"
        ),
    )

    id: uuid.UUID = id_field()
    kind: str = Field(max_length=16)  # "handoff", "reminder" or "coverage_gap"
    schedule_id: uuid.UUID = Field(foreign_key="schedules.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    contact_method_id: uuid.UUID = Field(foreign_key="contact_methods.id", ondelete="CASCADE")
    # The shift's start (handoff, reminder) or the day checked (coverage gap).
    occasion_at: datetime = timestamp_field()
    title: str = Field(max_length=300)
    text: str = Field(max_length=4000)
    status: str = Field(default="pending", max_length=16)  # "pending", "sent" or "failed"
    attempts: int = 0
    next_attempt_at: datetime = timestamp_field()
    detail: str = Field(default="", max_length=300)
    created_at: datetime = timestamp_field(default_now=True)
    sent_at: datetime | None = timestamp_field(nullable=True)


class CoverageCheck(SQLModel, table=True):
    """A schedule's coverage was checked on this day: the warning goes out once a day."""

    __tablename__ = "coverage_checks"

    schedule_id: uuid.UUID = Field(foreign_key="schedules.id", ondelete="CASCADE", primary_key=True)
    day: date = Field(primary_key=True)
    checked_at: datetime = timestamp_field(default_now=True)
