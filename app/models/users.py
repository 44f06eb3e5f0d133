"""Users, their contact methods and their personal notification rules."""

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import id_field, timestamp_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = id_field()
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)
    role: str = Field(max_length=20)
    time_zone: str = Field(default="UTC", max_length=64)
    # The Slack member id (e.g. U024BE7LH) whose button clicks act as this user.
    slack_user_id: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = timestamp_field(default_now=True)


class ContactMethod(SQLModel, table=True):
    __tablename__ = "contact_methods"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    type: str = Field(max_length=20)
    address: str = Field(max_length=2048)
    label: str = Field(default="", max_length=200)
    # Signs webhook pages so the receiver can verify them; shown once on creation.
    signing_secret: str = Field(default="", max_length=128)
    created_at: datetime = timestamp_field(default_now=True)
    # Pages go only to verified methods: a code sent through the channel came back, or an admin
    # vouched for it (docs/notifications.md, "Verifying contact methods").
    verified_at: datetime | None = timestamp_field(nullable=True)
    verified_by: str = Field(
        default="", max_length=16, sa_column_kwargs={"server_default": ""}
    )  # "code", "admin" or "setting"
    # The code last sent (hashed; codes are short, so the attempts are counted too).
    verification_code_hash: str = Field(
        default="", max_length=64, sa_column_kwargs={"server_default": ""}
    )
    verification_expires_at: datetime | None = timestamp_field(nullable=True)
    verification_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class NotificationRule(SQLModel, table=True):
    __tablename__ = "notification_rules"

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    contact_method_id: uuid.UUID = Field(
        foreign_key="contact_methods.id", ondelete="CASCADE", index=True
    )
    delay_seconds: int = 0
    # "high" or "low": the rule applies only to incidents of that urgency; None: to both.
    urgency: str | None = Field(default=None, max_length=8)
    created_at: datetime = timestamp_field(default_now=True)


class ChatIdentity(SQLModel, table=True):
    """A chat account (Telegram, Mattermost) whose button presses act as this user.

    Linked by a one-time code the user sends from that account through the chat itself, never
    by a display name; a new code replaces a pending one.
    """

    __tablename__ = "chat_identities"
    __table_args__: ClassVar[Any] = (
        UniqueConstraint("kind", "external_id", name="uq_chat_identities_account"),
        UniqueConstraint("user_id", "kind", name="uq_chat_identities_user_kind"),
    )

    id: uuid.UUID = id_field()
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)  # "telegram" or "mattermost"
    external_id: str | None = Field(default=None, max_length=64)
    link_code_hash: str = Field(default="", max_length=64)
    link_expires_at: datetime | None = timestamp_field(nullable=True)
    linked_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(default_now=True)
