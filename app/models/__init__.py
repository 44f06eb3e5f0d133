"""SQLModel tables; importing this package registers every table on the metadata."""

from sqlmodel import SQLModel

from app.models.auth import ApiKey
from app.models.base import utcnow
from app.models.incidents import (
    OPEN_STATUSES,
    Incident,
    InstanceSecret,
    Notification,
    TimelineEntry,
)
from app.models.policies import EscalationLevel, EscalationPolicy, EscalationTarget
from app.models.services import IntegrationKey, Service
from app.models.users import ContactMethod, NotificationRule, User

metadata = SQLModel.metadata

__all__ = [
    "OPEN_STATUSES",
    "ApiKey",
    "ContactMethod",
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationTarget",
    "Incident",
    "InstanceSecret",
    "IntegrationKey",
    "Notification",
    "NotificationRule",
    "Service",
    "TimelineEntry",
    "User",
    "metadata",
    "utcnow",
]
