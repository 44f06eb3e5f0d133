"""Response-effectiveness reports as the API shows them."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class GroupBy(StrEnum):
    SERVICE = "service"
    POLICY = "policy"
    RESPONDER = "responder"


class Durations(BaseModel):
    """Seconds; null when no incident of the group got there."""

    mean: float | None
    p50: float | None
    p90: float | None


class ResponseStats(BaseModel):
    key: str | None = Field(description="The service, policy or user id; null for 'none'.")
    name: str
    incidents: int
    acknowledged: int
    resolved: int
    mtta_seconds: Durations = Field(description="Trigger to first acknowledgement.")
    mttr_seconds: Durations = Field(description="Trigger to resolution.")
    escalation_rate: float = Field(description="Share of incidents that reached level 2 or more.")
    exhausted: int = Field(description="Incidents whose escalation ran out at least once.")


class ResponseReport(BaseModel):
    since: datetime
    until: datetime
    group_by: GroupBy
    groups: list[ResponseStats]
    total: ResponseStats
