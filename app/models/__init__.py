"""SQLModel tables; importing this package registers every table on the metadata."""

from sqlmodel import SQLModel

from app.models.accounts import ConsoleSession, UserPassword
from app.models.audit import AuditEntry
from app.models.auth import ApiKey
from app.models.base import utcnow
from app.models.calendars import CalendarFeed
from app.models.inbound import DeadInboundEvent, InboundEvent, InboundReceipt
from app.models.incidents import (
    OPEN_STATUSES,
    Incident,
    InstanceSecret,
    Notification,
    TimelineEntry,
)
from app.models.notices import CoverageCheck, OncallNotice
from app.models.policies import EscalationLevel, EscalationPolicy, EscalationTarget
from app.models.responders import UsedNonce
from app.models.routing import Heartbeat, MaintenanceWindow, RoutingRule
from app.models.schedules import Schedule, ScheduleLayer, ScheduleOverride
from app.models.services import IntegrationKey, Service
from app.models.teams import TEAM_ROLES, Team, TeamMember
from app.models.users import ChatIdentity, ContactMethod, NotificationRule, User
from app.models.webhooks import WebhookDelivery, WebhookSubscription

metadata = SQLModel.metadata

__all__ = [
    "OPEN_STATUSES",
    "TEAM_ROLES",
    "ApiKey",
    "AuditEntry",
    "CalendarFeed",
    "ChatIdentity",
    "ConsoleSession",
    "ContactMethod",
    "CoverageCheck",
    "DeadInboundEvent",
    "EscalationLevel",
    "EscalationPolicy",
    "EscalationTarget",
    "Heartbeat",
    "InboundEvent",
    "InboundReceipt",
    "Incident",
    "InstanceSecret",
    "IntegrationKey",
    "MaintenanceWindow",
    "Notification",
    "NotificationRule",
    "OncallNotice",
    "RoutingRule",
    "Schedule",
    "ScheduleLayer",
    "ScheduleOverride",
    "Service",
    "Team",
    "TeamMember",
    "TimelineEntry",
    "UsedNonce",
    "User",
    "UserPassword",
    "WebhookDelivery",
    "WebhookSubscription",
    "metadata",
    "utcnow",
]
