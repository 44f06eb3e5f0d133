"""Building blocks for the provider and responder tests."""

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import func, select, text
from sqlmodel import col

from app.models import Notification
from app.notify.base import Page
from tests.factories import Api
from tests.faults.harness import eventually
from tests.provider_support import TWILIO_SID
from tests.support import JobTracker, Received

MESSAGES = f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
CALLS = f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Calls.json"


def types(timeline: list[dict[str, Any]]) -> list[str]:
    return [item["type"] for item in timeline]


def form(received: Received) -> dict[str, str]:
    """The form fields of a recorded form-encoded request."""
    return dict(parse_qsl(received.body.decode(), keep_blank_values=True))


async def paged_user(
    api: Api, name: str, channel: str, address: str, **fields: Any
) -> dict[str, Any]:
    """A responder reachable through one contact method of `channel` at `address`."""
    slug = name.lower().replace(" ", ".")
    body = {"name": name, "email": f"{slug}@example.com", "role": "responder", **fields}
    user: dict[str, Any] = await api.post("/users", body)
    method = await api.post(
        f"/users/{user['id']}/contact-methods", {"type": channel, "address": address}
    )
    path = f"/users/{user['id']}/contact-methods/{method['id']}/mark-verified"
    user["contact_method"] = {**method, **await api.post(path, {}, 200)}
    return user


async def incident_for(
    api: Api, user: dict[str, Any], *, name: str, escalate_after: int = 600, **fields: Any
) -> dict[str, Any]:
    """A one-level policy paging `user`, its service, and a triggered incident on it."""
    policy = await api.policy([(escalate_after, [user["id"]])], name=name)
    service = await api.service(policy["id"], name=name)
    return await api.trigger(service["id"], **fields)


async def settled(app: Any, jobs: JobTracker, incident_id: str, timeout: float = 15.0) -> None:
    """Until none of the incident's pages is pending (re-checked as each worker job ends)."""

    async def pending() -> int:
        async with app.state.sessions() as session:
            count = await session.scalar(
                select(func.count()).where(
                    col(Notification.incident_id) == incident_id,
                    col(Notification.status) == "pending",
                )
            )
        return int(count or 0)

    async with asyncio.timeout(timeout):
        while await pending():
            # The sweeper's cron job ends every second, so a wake-up is never missed for long.
            async with jobs.changed:
                await jobs.changed.wait()


async def status(api: Api, incident: dict[str, Any]) -> str:
    """The incident's status as the API shows it now."""
    return str((await api.get(f"/incidents/{incident['id']}"))["status"])


def page(channel: str, address: str, **incident: Any) -> Page:
    return Page(
        notification_id="n1",
        idempotency_key=f"key-{uuid.uuid4()}",
        channel=channel,
        address=address,
        attempt=1,
        incident={
            "id": str(uuid.uuid4()),
            "number": 42,
            "title": "p99 latency > 2s",
            "severity": "critical",
            "urgency": "high",
            "status": "triggered",
            "source": "prometheus",
            "details": {},
            "created_at": "2026-01-01T00:00:00Z",
            **incident,
        },
        level=1,
        loop=0,
        user={"id": "u1", "name": "Ada"},
        actions={"acknowledge": "http://s.test/r/a", "resolve": "http://s.test/r/b"},
        signing_secret="s",
    )


async def until_waiting_on_a_lock(app: Any, timeout: float = 15.0) -> None:
    """Until some session of the test database waits for a row lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )

    async def waiting() -> bool:
        async with app.state.sessions() as session:
            return bool(await session.scalar(query))

    await eventually(waiting, timeout, "a session to wait for a row lock")


async def delete_paged_user(api: Api, user: dict[str, Any], incident: dict[str, Any]) -> None:
    """Delete the user (a user that a policy names cannot be: name someone else first)."""
    bob = await api.user(f"Stand-in for {user['name']}")
    levels = [{"escalate_after_seconds": 600, "targets": [{"type": "user", "id": bob["id"]}]}]
    policy_id = (await api.get(f"/incidents/{incident['id']}"))["escalation"]["policy_id"]
    moved = await api.client.patch(
        f"/api/v1/escalation-policies/{policy_id}", json={"levels": levels}, headers=api.headers
    )
    assert moved.status_code == 200
    deleted = await api.client.delete(f"/api/v1/users/{user['id']}", headers=api.headers)
    assert deleted.status_code == 204
