"""Building blocks for the lifecycle tests: policies with conditions, services with timers."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.models import Incident, Notification
from tests.factories import Api


def types(timeline: list[dict[str, Any]]) -> list[str]:
    return [item["type"] for item in timeline]


async def policy(
    api: Api, levels: list[tuple[int, list[str], str]], *, name: str, repeat: int = 0
) -> dict[str, Any]:
    """Levels as (escalate_after_seconds, user ids, condition)."""
    body = {
        "name": name,
        "repeat": repeat,
        "levels": [
            {
                "escalate_after_seconds": delay,
                "condition": condition,
                "targets": [{"type": "user", "id": uid} for uid in users],
            }
            for delay, users, condition in levels
        ],
    }
    result: dict[str, Any] = await api.post("/escalation-policies", body)
    return result


async def service(api: Api, policy_id: str, *, name: str, **timers: int) -> dict[str, Any]:
    """A service; `timers` may set ack_timeout_seconds and auto_resolve_seconds."""
    body = {"name": name, "escalation_policy_id": policy_id, **timers}
    result: dict[str, Any] = await api.post("/services", body)
    return result


async def row(app: Any, incident_id: str) -> Incident:
    """The incident as stored."""
    async with app.state.sessions() as session:
        incident: Incident | None = await session.get(Incident, uuid.UUID(incident_id))
    assert incident is not None
    return incident


async def pages(app: Any, incident_id: str) -> list[Notification]:
    """The incident's outbox rows, oldest first."""
    async with app.state.sessions() as session:
        query = (
            select(Notification)
            .where(col(Notification.incident_id) == uuid.UUID(incident_id))
            .order_by(col(Notification.created_at), col(Notification.level))
        )
        return list((await session.scalars(query)).all())
