"""Users, contact methods, notification rules and user API keys."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, EmailStr, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from app.notify import registry
from app.schemas import READ, STRICT, Name, TimeZone
from app.vocabulary import Urgency


class Role(StrEnum):
    ADMIN = "admin"
    RESPONDER = "responder"
    OBSERVER = "observer"


def _registered(value: str) -> str:
    if value not in registry.BY_TYPE:
        expected = ", ".join(f"'{t}'" for t in registry.CONTACT_TYPES[:-1])
        raise PydanticCustomError(
            "enum",
            "Input should be {expected}",
            {"expected": f"{expected} or '{registry.CONTACT_TYPES[-1]}'"},
        )
    return value


# A channel type registered in app/notify/registry.py.
ContactType = Annotated[
    str,
    AfterValidator(_registered),
    WithJsonSchema({"type": "string", "enum": list(registry.CONTACT_TYPES)}),
]


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
            registry.BY_TYPE[self.type].check_address(self.address)
        except ValueError as exc:
            raise ValueError(f"address: {exc} for a {self.type} contact method") from exc
        return self


class ContactMethodRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    user_id: uuid.UUID
    type: ContactType
    address: str
    label: str
    created_at: datetime
    verified_at: datetime | None = Field(
        description="Pages go only to verified methods; null: not verified yet."
    )
    verified_by: str = Field(description='"code", "admin", "setting" or empty.')


class ContactMethodCreated(ContactMethodRead):
    signing_secret: str | None = Field(
        default=None, description="Webhook pages are signed with this; shown only once."
    )


class VerificationCode(BaseModel):
    model_config = STRICT
    code: str = Field(min_length=1, max_length=16, description="The code the channel received.")


class VerificationSent(BaseModel):
    outcome: str = Field(description="The provider's outcome: sent, transient or permanent.")
    detail: str = Field(description="What the provider answered.")
    expires_at: datetime | None = Field(description="Until when the code is good (if sent).")
    contact_method: ContactMethodRead


class TestPageSent(BaseModel):
    outcome: str = Field(description="The provider's outcome: sent, transient or permanent.")
    detail: str = Field(description="What the provider answered.")


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


class ChatKind(StrEnum):
    TELEGRAM = "telegram"
    MATTERMOST = "mattermost"


class ChatLinkCode(BaseModel):
    kind: ChatKind
    code: str = Field(description="Send it from the chat account; good once, until expires_at.")
    expires_at: datetime
    how: str = Field(description="What to send where.")
