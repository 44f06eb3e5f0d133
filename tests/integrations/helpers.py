"""Building blocks shared by the integration tests."""

from typing import Any

from app.integrations.inbox import oldest_queued
from tests.factories import Api
from tests.support import JobTracker


async def paged_service(api: Api, url: str, name: str = "checkout") -> dict[str, Any]:
    """A service whose one-level policy pages a user at `url`."""
    user = await api.user(f"Ada {name}", webhook=url)
    policy = await api.policy([(60, [user["id"]])], name=name)
    service: dict[str, Any] = await api.service(policy["id"], name=name)
    return service


async def integration_key(api: Api, service_id: str, **fields: Any) -> str:
    """A new integration key's secret."""
    created = await api.post(
        f"/services/{service_id}/integration-keys", {"name": "monitoring", **fields}
    )
    key: str = created["key"]
    return key


async def incidents_of(api: Api, service_id: str) -> list[dict[str, Any]]:
    """The service's incidents, oldest first."""
    items: list[dict[str, Any]] = (
        await api.get("/incidents", params={"service_id": service_id, "limit": 100})
    )["items"]
    return list(reversed(items))


async def events_applied(app: Any, jobs: JobTracker) -> None:
    """Until the worker has applied every event queued through /v2/enqueue."""

    async def inbox_empty() -> bool:
        async with app.state.sessions() as session:
            return await oldest_queued(session) is None

    await jobs.until(inbox_empty)
