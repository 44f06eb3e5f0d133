"""A storm of escalating incidents driven through a real API process, checked at the sink."""

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.bootstrap import create_admin_key
from app.config import Settings
from tests.faults.harness import Stairway, eventually
from tests.support import HttpSink

LEVELS = 3
# How often a trigger answered 503 is sent again before the storm gives up.
RETRIES = 30


@dataclass
class Storm:
    """N incidents on a 3-level policy (one user per level, 1 s apart, no repeat)."""

    stairway: Stairway
    sink: HttpSink
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    incident_ids: list[str] = field(default_factory=list)
    service_id: str = ""
    triggered: int = 0

    def path(self, level: int) -> str:
        return f"/{self.name}/level{level}"

    @staticmethod
    async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
        response = await client.post(path, json=body)
        assert response.status_code == 201, f"{path}: {response.status_code} {response.text}"
        return response.json()

    async def setup(self, *, escalate_after_seconds: int = 1) -> None:
        settings = Settings(
            database_url=self.stairway.database_url, redis_url=self.stairway.redis_url
        )
        key = await create_admin_key(settings, email=f"{self.name}@example.com", name="Root")
        self.headers = {"Authorization": f"Bearer {key}"}
        async with self.client() as c:
            users = []
            for level in range(1, LEVELS + 1):
                user = await self._post(
                    c,
                    "/api/v1/users",
                    {"name": f"L{level}", "email": f"{self.name}.l{level}@example.com"},
                )
                method = await self._post(
                    c,
                    f"/api/v1/users/{user['id']}/contact-methods",
                    {"type": "webhook", "address": self.sink.url(self.path(level))},
                )
                verify = f"/api/v1/users/{user['id']}/contact-methods/{method['id']}/mark-verified"
                assert (await c.post(verify)).status_code == 200
                users.append(user["id"])
            policy = await self._post(
                c,
                "/api/v1/escalation-policies",
                {
                    "name": self.name,
                    "levels": [
                        {
                            "escalate_after_seconds": escalate_after_seconds,
                            "targets": [{"type": "user", "id": uid}],
                        }
                        for uid in users
                    ],
                },
            )
            service = await self._post(
                c, "/api/v1/services", {"name": self.name, "escalation_policy_id": policy["id"]}
            )
            self.service_id = service["id"]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.stairway.base_url, headers=self.headers, timeout=30)

    async def trigger(self, count: int) -> None:
        # As a monitoring system does: a 503 is sent again after its Retry-After (a busy machine
        # runs out of pooled connections), and each incident's dedup key makes a repeat harmless.
        first, self.triggered = self.triggered, self.triggered + count

        async def send(c: httpx.AsyncClient, i: int) -> httpx.Response:
            body = {"service_id": self.service_id, "title": f"storm {i}", "dedup_key": f"storm-{i}"}
            for _ in range(RETRIES):
                response = await c.post("/api/v1/incidents", json=body)
                if response.status_code != 503:
                    return response
                await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 1.0))
            return response

        async with self.client() as c:
            responses = await asyncio.gather(*(send(c, first + i) for i in range(count)))
        assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
        self.incident_ids.extend(dict.fromkeys(r.json()["id"] for r in responses))

    async def integration_key(self) -> str:
        """A new integration key of the storm's service (its secret)."""
        async with self.client() as c:
            path = f"/api/v1/services/{self.service_id}/integration-keys"
            created = await self._post(c, path, {"name": "monitoring"})
        key: str = created["key"]
        return key

    async def wait_incident(self, dedup_key: str, timeout: float = 60) -> str:
        """The id of the incident with `dedup_key`, once the worker has opened it."""
        found: list[str] = []

        async def opened() -> bool:
            async with self.client() as c:
                listed = (
                    await c.get(
                        "/api/v1/incidents", params={"service_id": self.service_id, "limit": 100}
                    )
                ).json()["items"]
            found[:] = [i["id"] for i in listed if i["dedup_key"] == dedup_key]
            return bool(found)

        await eventually(opened, timeout, f"the incident {dedup_key} to open")
        return found[0]

    def keys(self) -> Counter[str]:
        """Pages received for this storm, by idempotency key."""
        return Counter(
            r.headers["x-stairway-delivery"]
            for r in self.sink.received
            if r.path.startswith(f"/{self.name}/")
        )

    async def wait_all_paged(self, timeout: float = 90) -> None:
        expected = len(self.incident_ids) * LEVELS
        await self.sink.wait_for(lambda: len(self.keys()) >= expected, timeout)

    async def incident(self, incident_id: str) -> dict[str, Any]:
        async with self.client() as c:
            result: dict[str, Any] = (await c.get(f"/api/v1/incidents/{incident_id}")).json()
            return result

    async def all_incidents(self, base_url: str | None = None) -> list[dict[str, Any]]:
        """Every incident of the storm's service, page by page."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"service_id": self.service_id, "limit": 100}
        async with self.client() as c:
            while True:
                url = f"{base_url or self.stairway.base_url}/api/v1/incidents"
                page = (await c.get(url, params=params)).json()
                found.extend(page["items"])
                if not page.get("next_cursor"):
                    return found
                params["cursor"] = page["next_cursor"]

    async def wait_alerts_opened(self, dedup_keys: Iterable[str], timeout: float = 60) -> None:
        """Until every alert has its incident; the storm then follows those incidents too."""
        wanted = set(dedup_keys)
        by_key: dict[str, str] = {}

        async def opened() -> bool:
            by_key.update({i["dedup_key"]: i["id"] for i in await self.all_incidents()})
            return wanted <= set(by_key)

        await eventually(opened, timeout, f"{len(wanted)} accepted alerts to open incidents")
        known = set(self.incident_ids)
        self.incident_ids.extend(by_key[k] for k in sorted(wanted) if by_key[k] not in known)

    async def wait_all_exhausted(self, timeout: float = 60) -> None:
        async def done() -> bool:
            listed = await self.all_incidents()
            return len(listed) == len(self.incident_ids) and all(
                i["escalation"]["exhausted"] for i in listed
            )

        await eventually(done, timeout, "every incident to exhaust its policy")

    def assert_each_level_paged_once_per_incident(self) -> None:
        keys = self.keys()
        by_incident: Counter[str] = Counter(key.split(":")[0] for key in keys)
        assert set(by_incident) == set(self.incident_ids)
        assert all(n == LEVELS for n in by_incident.values()), by_incident
        levels = Counter(key.split(":")[3] for key in keys)  # incident:epoch:loop:level:...
        assert levels == {str(n): len(self.incident_ids) for n in range(1, LEVELS + 1)}
