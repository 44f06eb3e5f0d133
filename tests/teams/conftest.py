"""Teams through the public API: helpers for a team with members, as the admin behind `api`."""

from typing import Any

from tests.factories import Api


async def team(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    """A new team."""
    result: dict[str, Any] = await api.post("/teams", {"name": name, **fields})
    return result


async def join(api: Api, team_id: str, user: dict[str, Any], role: str) -> dict[str, Any]:
    """Make `user` a member of the team with `role`."""
    body = {"user_id": user["id"], "role": role}
    result: dict[str, Any] = await api.post(f"/teams/{team_id}/members", body)
    return result


async def owned_policy(
    api: Api, name: str, team_id: str | None, target: dict[str, str], *, delay: int = 600
) -> dict[str, Any]:
    """A one-level policy of the team paging `target` ({"type": ..., "id": ...})."""
    level = {"escalate_after_seconds": delay, "targets": [target]}
    body = {"name": name, "team_id": team_id, "levels": [level]}
    result: dict[str, Any] = await api.post("/escalation-policies", body)
    return result


def as_user(api: Api, headers: dict[str, str]) -> Api:
    """The same client calling with another user's key."""
    return Api(api.client, headers)
