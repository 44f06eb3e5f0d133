"""Users, contact methods, notification rules and user API keys."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, model_validator

from app.incidents.schemas import Urgency
from app.schemas import READ, STRICT, Name, TimeZone, check_phone, check_url


class Role(StrEnum):
    ADMIN = "admin"
    RESPONDER = "responder"
    OBSERVER = "observer"


class ContactType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"
    SMS = "sms"
    VOICE = "voice"


# The Slack member id whose Slack button clicks act as this user.
SlackUserId = Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,62}$")]


class UserCreate(BaseModel):
    model_config = STRICT
    name: Name
    email: EmailStr
    role: Role = Role.RESPONDER
    time_zone: TimeZone = "UTC"
    slack_user_id: SlackUserId | None = None


class UserUpdate(BaseModel):
    model_config = STRICT
    name: Name | None = None
    email: EmailStr | None = None
    role: Role | None = None
    time_zone: TimeZone | None = None
    slack_user_id: SlackUserId | None = None


class UserRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    name: str
    email: str
    role: Role
    time_zone: str
    slack_user_id: str | None = None
    created_at: datetime


class ContactMethodCreate(BaseModel):
    model_config = STRICT
    type: ContactType
    address: str = Field(min_length=1, max_length=2048)
    label: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _address_fits_type(self) -> "ContactMethodCreate":
        try:
            if self.type in (ContactType.WEBHOOK, ContactType.SLACK):
                check_url(self.address)
            elif self.type in (ContactType.SMS, ContactType.VOICE):
                check_phone(self.address)
            elif "@" not in self.address:
                raise ValueError("must be an email address")
        except ValueError as exc:
            raise ValueError(f"address: {exc} for a {self.type.value} contact method") from exc
        return self


class ContactMethodRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    user_id: uuid.UUID
    type: ContactType
    address: str
    label: str
    created_at: datetime


class ContactMethodCreated(ContactMethodRead):
    signing_secret: str | None = Field(
        default=None, description="Webhook pages are signed with this; shown only once."
    )


class NotificationRuleCreate(BaseModel):
    model_config = STRICT
    contact_method_id: uuid.UUID
    delay_seconds: int = Field(default=0, ge=0, le=86400)
    urgency: Urgency | None = Field(
        default=None, description="Only for incidents of this urgency; null: for both."
    )


class NotificationRuleRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    user_id: uuid.UUID
    contact_method_id: uuid.UUID
    delay_seconds: int
    urgency: Urgency | None
    created_at: datetime


class ApiKeyCreate(BaseModel):
    model_config = STRICT
    name: Name = "default"
    expires_at: datetime | None = None


class ApiKeyRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The API key; shown only once.")
