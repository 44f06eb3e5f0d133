"""Heartbeats (dead man's switches): pings, and the check that turns a missed one into an incident.

State lives in PostgreSQL (status, due_at), so the check is a query that any worker can run at
any time: restarts, several workers and repeated runs change nothing beyond the first.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.integrations import pipeline, sources
from app.integrations.heartbeats.schemas import HeartbeatCreate, HeartbeatUpdate
from app.integrations.heartbeats.signals import Signal
from app.models import Heartbeat, Service
from app.repository import flush_unique, get_or_404

BATCH = 200


def actor(heartbeat: Heartbeat) -> dict[str, Any]:
    """How the heartbeat checker appears on timelines."""
    return {"type": "heartbeat", "id": str(heartbeat.id), "name": heartbeat.name}


async def _flush_name(session: AsyncSession, name: str) -> None:
    message = f"this service has a heartbeat named {name!r}"
    await flush_unique(session, field="name", message=message)


async def create(*, session: AsyncSession, data: HeartbeatCreate) -> Heartbeat:
    """A heartbeat waiting for its first ping (it cannot be missed before that)."""
    await get_or_404(session, Service, data.service_id, what="service")
    heartbeat = Heartbeat(**data.model_dump())
    session.add(heartbeat)
    await _flush_name(session, heartbeat.name)
    return heartbeat


async def list_all(
    *, session: AsyncSession, service_id: uuid.UUID | None, team_id: uuid.UUID | None = None
) -> list[Heartbeat]:
    """Heartbeats by name, optionally of one service or of one team's services."""
    query = select(Heartbeat).order_by(col(Heartbeat.name), col(Heartbeat.id))
    if service_id is not None:
        query = query.where(col(Heartbeat.service_id) == service_id)
    if team_id is not None:
        owned = select(col(Service.id)).where(col(Service.team_id) == team_id)
        query = query.where(col(Heartbeat.service_id).in_(owned))
    return list((await session.scalars(query)).all())


async def update(
    *, session: AsyncSession, heartbeat_id: uuid.UUID, data: HeartbeatUpdate
) -> Heartbeat:
    """Rename or change the interval (the current deadline moves with it)."""
    heartbeat = await get_or_404(session, Heartbeat, heartbeat_id, what="heartbeat", lock=True)
    if data.name is not None:
        heartbeat.name = data.name
    if data.interval_seconds is not None:
        heartbeat.interval_seconds = data.interval_seconds
        if heartbeat.last_ping_at is not None and heartbeat.status == "up":
            heartbeat.due_at = heartbeat.last_ping_at + timedelta(seconds=data.interval_seconds)
    await _flush_name(session, heartbeat.name)
    return heartbeat


async def delete(*, session: AsyncSession, heartbeat_id: uuid.UUID) -> None:
    """Stop watching; an incident it opened stays until someone resolves it."""
    heartbeat = await get_or_404(session, Heartbeat, heartbeat_id, what="heartbeat")
    await session.delete(heartbeat)
    await session.flush()


async def ping(*, session: AsyncSession, heartbeat: Heartbeat, now: datetime) -> Heartbeat:
    """Record a ping (the row is locked); a ping after a miss resolves the incident it opened."""
    if heartbeat.status == "down":
        await _signal(session, Signal("recovered", heartbeat), now)
    heartbeat.status = "up"
    heartbeat.last_ping_at = now
    heartbeat.due_at = now + timedelta(seconds=heartbeat.interval_seconds)
    await session.flush()
    return heartbeat


async def check(*, session: AsyncSession, now: datetime) -> int:
    """Open an incident for every heartbeat whose deadline passed; how many were missed."""
    query = (
        select(Heartbeat)
        .where(col(Heartbeat.status) == "up", col(Heartbeat.due_at) <= now)
        .order_by(col(Heartbeat.due_at))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    missed = list((await session.scalars(query)).all())
    for heartbeat in missed:
        heartbeat.status = "down"
        await _signal(session, Signal("missed", heartbeat), now)
    await session.flush()
    return len(missed)


async def _signal(session: AsyncSession, signal: Signal, now: datetime) -> None:
    heartbeat = signal.heartbeat
    await pipeline.accept(
        session=session,
        service_id=heartbeat.service_id,
        events=sources.parse("heartbeat", signal),
        actor=actor(heartbeat),
        now=now,
    )
