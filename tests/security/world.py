"""Real objects for security tests: one of each resource, and one key per kind of caller."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import Api


@dataclass
class World:
    """Real objects to fill path parameters, and one set of credentials per caller."""

    ids: dict[str, str]
    headers: dict[str, dict[str, str]]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _integration_key(api: Api, service_id: str) -> tuple[str, str]:
    created = await api.post(f"/services/{service_id}/integration-keys", {"name": "monitor"})
    return created["id"], created["key"]


async def _member(
    api: Api, team_id: str, name: str, global_role: str, team_role: str
) -> dict[str, Any]:
    """A new user with `global_role`, in the team with `team_role`."""
    user = await api.user(name, role=global_role)
    await api.post(f"/teams/{team_id}/members", {"user_id": user["id"], "role": team_role})
    return user


async def build_world(api: Api) -> World:
    """One of each resource, created through the API as the admin behind `api`."""
    subject = await api.user("Sam Subject", webhook="https://hooks.example.com/sam", rules=[0])
    subject_key = await api.post(f"/users/{subject['id']}/api-keys", {"name": "laptop"})
    rules = await api.get(f"/users/{subject['id']}/notification-rules")
    now = datetime.now(UTC)
    schedule = await api.post("/schedules", {"name": "primary", "time_zone": "UTC"})
    override = await api.post(
        f"/schedules/{schedule['id']}/overrides",
        {
            "user_id": subject["id"],
            "start": _iso(now - timedelta(hours=1)),
            "end": _iso(now + timedelta(hours=1)),
        },
    )
    policy = await api.policy([(300, [subject["id"]])])
    # The team owning the objects the routes act on, and another team.
    team = await api.post("/teams", {"name": "payments"})
    elsewhere = await api.post("/teams", {"name": "storage"})
    for path, object_id in (
        ("schedules", schedule["id"]),
        ("escalation-policies", policy["id"]),
    ):
        await api.patch(f"/{path}/{object_id}", {"team_id": team["id"]})
    own = await api.service(policy["id"], name="own", team_id=team["id"])
    other = await api.service(policy["id"], name="other")
    _, own_secret = await _integration_key(api, own["id"])
    # A second key of the same service, for routes that act on (or delete) a key.
    spare_key_id, _ = await _integration_key(api, own["id"])
    _, other_secret = await _integration_key(api, other["id"])
    incident = await api.trigger(own["id"])
    rule = await api.post(f"/services/{own['id']}/routing-rules", {"name": "r", "urgency": "low"})
    window = await api.post(
        f"/services/{own['id']}/maintenance-windows",
        {"starts_at": _iso(now + timedelta(days=1)), "ends_at": _iso(now + timedelta(days=2))},
    )
    heartbeat = await api.post(
        "/heartbeats", {"service_id": own["id"], "name": "backup", "interval_seconds": 3600}
    )
    subscription = await api.post(
        "/webhook-subscriptions", {"url": "https://hooks.example.com/stairway"}
    )
    ids = {
        "users": subject["id"],
        "contact-methods": subject["contact_method"]["id"],
        "notification-rules": rules["items"][0]["id"],
        "api-keys": subject_key["id"],
        "schedules": schedule["id"],
        "overrides": override["id"],
        "escalation-policies": policy["id"],
        "services": own["id"],
        "integration-keys": spare_key_id,
        "incidents": incident["id"],
        "routing-rules": rule["id"],
        "maintenance-windows": window["id"],
        "heartbeats": heartbeat["id"],
        "webhook-subscriptions": subscription["id"],
        "service": own["id"],
        "chat-links": "telegram",
        "teams": team["id"],
        "members": (await _member(api, team["id"], "Mo Member", "observer", "observer"))["id"],
    }
    headers = {
        "anonymous": {},
        "observer": await api.key_for(await api.user("Olive Observer", role="observer")),
        "responder": await api.key_for(await api.user("Rita Responder", role="responder")),
        "admin": api.headers,
        "integration_own": {"Authorization": f"Bearer {own_secret}"},
        "integration_other": {"Authorization": f"Bearer {other_secret}"},
        # Team roles on observers: what they may do beyond reading, the team grants.
        "team_manager": await api.key_for(
            await _member(api, team["id"], "Tess Manager", "observer", "manager")
        ),
        "team_responder": await api.key_for(
            await _member(api, team["id"], "Theo Responder", "observer", "responder")
        ),
        # A responder managing another team: no say over this team's objects.
        "other_manager": await api.key_for(
            await _member(api, elsewhere["id"], "Otto Manager", "responder", "manager")
        ),
    }
    return World(ids=ids, headers=headers)


def path_ids(path: str, ids: dict[str, str]) -> dict[str, str]:
    """A value for each `{param}` of `path`: the id of the collection named just before it."""
    values = {}
    for match in re.finditer(r"\{([^}]+)\}", path):
        collection = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        values[match.group(1)] = ids.get(collection, "bogus-" + uuid.uuid4().hex)
    return values


def fill(path: str, ids: dict[str, str]) -> str:
    """The path with its parameters filled by `path_ids`."""
    return path.format(**path_ids(path, ids))
