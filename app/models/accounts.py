"""Console sign-in: password hashes and server-side browser sessions."""

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class UserPassword(SQLModel, table=True):
    """A local account's password (argon2id hash); users who sign in with SSO have none."""

    __tablename__ = "user_passwords"

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    password_hash: str = Field(max_length=512)
    updated_at: datetime = timestamp_field(default_now=True)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser; the cookie holds a random token, the row only its SHA-256."""

    __tablename__ = "console_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    csrf_token: str = Field(max_length=64)
    # How the user signed in: "password", "oidc" or "link" (an invite or reset link).
    method: str = Field(max_length=16)
    user_agent: str = Field(default="", max_length=512)
    ip: str = Field(default="", max_length=64)
    created_at: datetime = timestamp_field(default_now=True)
    last_seen_at: datetime = timestamp_field(default_now=True)
    # Absolute expiry; the idle expiry is last_seen_at plus the configured idle time.
    expires_at: datetime = timestamp_field(index=True)
