"""Single-use markers for responding from a page (action links, SMS message ids, Slack retries)."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import timestamp_field


class UsedNonce(SQLModel, table=True):
    """A link or inbound message that has been acted on; kept until it could no longer verify."""

    __tablename__ = "used_nonces"

    key: str = Field(primary_key=True, max_length=128)
    used_at: datetime = timestamp_field(default_now=True)
    expires_at: datetime = timestamp_field(index=True)
