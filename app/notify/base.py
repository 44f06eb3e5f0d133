"""The provider plug-in interface."""

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # retry with backoff
    PERMANENT = "permanent"  # do not retry
    DEFERRED = "deferred"  # not attempted (e.g. rate limited): send later, no attempt used


@dataclass(frozen=True, slots=True)
class Notice:
    """A message that is not an incident page: a verification code, an on-call handoff."""

    kind: str  # "verification", "handoff", "coverage_gap", "test"
    title: str
    text: str


@dataclass(frozen=True)
class Page:
    """Everything a provider needs to page one person (or one URL) once."""

    notification_id: str
    idempotency_key: str
    channel: str
    address: str
    attempt: int
    incident: dict[str, Any]
    level: int
    loop: int
    user: dict[str, Any] | None
    actions: dict[str, str]
    signing_secret: str
    # Set for a notice: the channel's templates give way to the notice templates.
    notice: Notice | None = None


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str
    status_code: int | None = None
    retry_after_seconds: float | None = None


class Provider(Protocol):
    """Hands one page to an outside system."""

    channel: str

    async def send(self, page: Page) -> DeliveryResult:
        """Deliver the page; never raises for delivery problems, returns the outcome."""
        ...


def classify_status(status_code: int) -> Outcome:
    """HTTP status → outcome: 2xx sent; 408, 425, 429 and 5xx retried; other 4xx permanent."""
    if 200 <= status_code < 300:
        return Outcome.SENT
    if status_code in (408, 425, 429) or status_code >= 500:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (HTTP dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def jittered_backoff(
    attempt: int, *, base_seconds: float, cap_seconds: float, retry_after: float | None
) -> float:
    """Exponential backoff with jitter (half to all of the step); a longer Retry-After wins."""
    ceiling = min(cap_seconds, base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap_seconds))
    return delay
